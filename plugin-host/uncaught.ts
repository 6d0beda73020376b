/**
 * Errors a TypeScript plugin did not catch. The build wraps every export of a componentize-js
 * plugin (cli/plugin-build.ts, `guardedEntry`): an exception that is not the plugin's own
 * `err` result is written to stderr as one marker line, `UNCAUGHT_MARKER` + JSON
 * `{name, message, stack}`, and then rethrown, which traps the component. The host reads that
 * line instead of logging it, maps the stack from the bundle to the author's sources with the
 * source map the build put in the component (protocol/source-map-section.ts), logs the result
 * and makes it the message of the call's trap.
 *
 * A plugin can forge the line; it only ever changes what its own failure says.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SourceMapConsumer } from 'source-map-js';
import { MAX_SOURCE_MAP_BYTES, SOURCE_MAP_FILE } from '../protocol/source-map-section.js';

/** Starts the stderr line the build's wrapper writes; U+001E since a NUL cuts the guest's output. */
export const UNCAUGHT_MARKER = '\u001eplugin-keeper:uncaught ';

/** The name the build gives its wrapping entry module in the source map. */
export const GUARD_SOURCE = 'plugin-keeper-entry.js';

/**
 * What is kept of a report, however it was made (the line is the plugin's own and may be
 * forged, the map's names too): the message and frames go into the call's error.
 */
const MAX_MESSAGE_CHARS = 2000;
const MAX_FRAMES = 30;
const MAX_FRAME_CHARS = 300;

/** What the guest's wrapper reported, the stack already mapped. */
export interface UncaughtError {
  name: string;
  message: string;
  /** `    at fn (src/index.ts:12:5)` lines, one per frame. */
  frames: string[];
}

/** The report on a marker line, or undefined when the line is not one (or is damaged). */
export function parseUncaught(line: string): { name: string; message: string; stack: string } | undefined {
  if (!line.startsWith(UNCAUGHT_MARKER)) return undefined;
  try {
    const fields = JSON.parse(line.slice(UNCAUGHT_MARKER.length)) as Record<string, unknown>;
    const text = (value: unknown) => (typeof value === 'string' ? value : '');
    return {
      name: text(fields.name).slice(0, MAX_FRAME_CHARS) || 'Error',
      message: text(fields.message).slice(0, MAX_MESSAGE_CHARS),
      stack: text(fields.stack),
    };
  } catch {
    return undefined;
  }
}

/** `Name: message` and the stack frames, as the log and the call's error show them. */
export function describeUncaught(error: UncaughtError): string {
  return [`${error.name}: ${error.message}`, ...error.frames].join('\n');
}

/**
 * StarlingMonkey's frames: `functionName@file:line:column`, the function name empty at the
 * top level. Lines are 1-based, columns 1-based.
 */
const FRAME = /^(.*?)@(.*):(\d+):(\d+)$/;

export class StackMapper {
  private consumer: SourceMapConsumer | null | undefined;

  /** `dir`: the transpiled component's folder, where the transpile step put the map. */
  constructor(private readonly dir: string) {}

  map(report: { name: string; message: string; stack: string }): UncaughtError {
    const frames: string[] = [];
    for (const frame of report.stack.split('\n')) {
      if (frame.trim() === '') continue;
      const mapped = this.mapFrame(frame.trim());
      // Below the plugin's own code: the wrapper and the bindings, the same for every plugin.
      if (mapped === GUARD_SOURCE || frames.length === MAX_FRAMES) break;
      frames.push(mapped.slice(0, MAX_FRAME_CHARS));
    }
    return { name: report.name, message: report.message, frames };
  }

  /** One frame as `    at fn (file:line:column)` in the author's sources, or GUARD_SOURCE for the wrapper's. */
  private mapFrame(frame: string): string {
    const parts = FRAME.exec(frame);
    if (!parts) return `    at ${frame}`;
    const [, name, file, line, column] = parts as unknown as [string, string, string, string, string];
    const fn = name || '<top level>';
    const original = this.sourceMap()?.originalPositionFor({ line: Number(line), column: Number(column) - 1 });
    if (!original?.source || original.line == null) return `    at ${fn} (${file}:${line}:${column})`;
    if (original.source === GUARD_SOURCE) return GUARD_SOURCE;
    return `    at ${fn} (${original.source}:${original.line}:${original.column + 1})`;
  }

  /** Read on the first uncaught error only; a missing, oversized or broken map leaves stacks as they are. */
  private sourceMap(): SourceMapConsumer | null {
    if (this.consumer === undefined) {
      this.consumer = null;
      try {
        const text = readFileSync(join(this.dir, SOURCE_MAP_FILE), 'utf8');
        if (text.length <= MAX_SOURCE_MAP_BYTES) this.consumer = new SourceMapConsumer(JSON.parse(text));
      } catch {
        // No map (a component not built by plugin-keeper build): frames keep the bundle's positions.
      }
    }
    return this.consumer;
  }
}
