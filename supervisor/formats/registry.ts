/**
 * Format key → handler. The one place callers look a handler up, per call.
 *
 * Entries are replaced in one synchronous step: a call that looked up the old handler
 * finishes on it, every later call gets the new one. Whoever swaps a handler out drains it.
 */
import { FormatUnavailable } from '../runtime/errors.js';
import type { FormatHandler } from './handler.js';

export class FormatRegistry {
  private readonly handlers = new Map<string, FormatHandler>();

  get(formatKey: string): FormatHandler | undefined {
    return this.handlers.get(formatKey);
  }

  /** The handler serving `formatKey`, or `format_unavailable`. */
  require(formatKey: string): FormatHandler {
    const handler = this.handlers.get(formatKey);
    if (!handler) throw new FormatUnavailable(`no enabled handler serves the "${formatKey}" format`);
    return handler;
  }

  /** Routes new calls for the handler's key to it; returns the handler it replaced, if any. */
  swap(handler: FormatHandler): FormatHandler | undefined {
    const previous = this.handlers.get(handler.formatKey);
    this.handlers.set(handler.formatKey, handler);
    return previous;
  }

  remove(formatKey: string): FormatHandler | undefined {
    const previous = this.handlers.get(formatKey);
    this.handlers.delete(formatKey);
    return previous;
  }

  keys(): string[] {
    return [...this.handlers.keys()];
  }
}
