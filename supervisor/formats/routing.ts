/**
 * The routing table: the one owner of "what serves format X" on this node.
 *
 * Each format key has at most one handler (a core one, or the running version of one
 * plugin) and an enabled flag; only an enabled key is served. Every operation changes the
 * table in one synchronous step: a call that looked a handler up finishes on it, every later
 * lookup sees the change. An operation that takes a handler out returns it, and whoever made
 * the change drains what it got back (a core handler drains at once).
 *
 * A plugin may serve a core key (installed with `replace_core`): its version is routed over
 * the core handler, which the table keeps and routes again when the plugin is retired.
 */
import { FormatUnavailable } from './errors.js';
import type { FormatHandler, PluginHandler } from './handler.js';

interface Route {
  handler: FormatHandler;
  enabled: boolean;
  /** The plugin whose version the handler runs; null for a core handler. */
  pluginId: string | null;
}

export class RoutingTable {
  private readonly routes = new Map<string, Route>();
  private readonly keyOfPlugin = new Map<string, string>();
  /** The compiled-in handlers, whether they serve their key now or a plugin replaces them. */
  private readonly cores = new Map<string, Route>();
  private readonly activations: Array<(formatKey: string) => void> = [];

  /**
   * Calls `listener` each time a plugin version starts serving a key (a new plugin, a reload,
   * a plugin replacing a core handler), and when a core handler serves its key again (the
   * plugin replacing it retired): what it parsed may differ from what is stored.
   */
  onActivate(listener: (formatKey: string) => void): void {
    this.activations.push(listener);
  }

  /** The handler serving `formatKey` now, if its key is enabled. */
  get(formatKey: string): FormatHandler | undefined {
    const route = this.routes.get(formatKey);
    return route?.enabled ? route.handler : undefined;
  }

  /** The handler serving `formatKey`, or `format_unavailable`. */
  require(formatKey: string): FormatHandler {
    const handler = this.get(formatKey);
    if (!handler) throw new FormatUnavailable(`no enabled handler serves the "${formatKey}" format`);
    return handler;
  }

  /**
   * Runs `work` with the handler serving `formatKey` (or `format_unavailable`); a version
   * swapped out meanwhile finishes the whole of `work` before it drains.
   */
  use<T>(formatKey: string, work: (handler: FormatHandler) => Promise<T>): Promise<T> {
    const handler = this.require(formatKey);
    return handler.use(() => work(handler));
  }

  /** Routes a compiled-in format (at start): it serves its key when `enabled`. */
  addCore(handler: FormatHandler, enabled: boolean): void {
    const route = { handler, enabled, pluginId: null };
    this.cores.set(handler.formatKey, route);
    this.routes.set(handler.formatKey, route);
  }

  /**
   * Makes `handler` the plugin's running version and routes its key to it when `enabled`.
   * Returns what it replaced: the plugin's previous version, to drain.
   */
  activate(pluginId: string, handler: PluginHandler, enabled: boolean): PluginHandler | undefined {
    const previousKey = this.keyOfPlugin.get(pluginId);
    const previous = previousKey === undefined ? undefined : this.takeOut(pluginId, previousKey);
    this.routes.set(handler.formatKey, { handler, enabled, pluginId });
    this.keyOfPlugin.set(pluginId, handler.formatKey);
    for (const listener of this.activations) listener(handler.formatKey);
    return previous;
  }

  /**
   * A new version of a running plugin: later calls go to `handler`, the key stays enabled or
   * disabled as it was. Returns the version it replaced, to drain.
   */
  replace(pluginId: string, handler: PluginHandler): PluginHandler | undefined {
    const key = this.keyOfPlugin.get(pluginId);
    return this.activate(pluginId, handler, key !== undefined && this.routes.get(key)!.enabled);
  }

  /** Serves or stops serving a key (one flag, whichever handler serves it); its handler (and a plugin's processes) stays. */
  setEnabled(formatKey: string, enabled: boolean): void {
    const route = this.routes.get(formatKey);
    if (route) route.enabled = enabled;
    const core = this.cores.get(formatKey);
    if (core) core.enabled = enabled;
  }

  /** Takes the plugin's running version out of the table (a core handler it replaced serves again); returns it, to drain. */
  retire(pluginId: string): PluginHandler | undefined {
    const key = this.keyOfPlugin.get(pluginId);
    if (key === undefined) return undefined;
    const retired = this.takeOut(pluginId, key);
    if (this.cores.has(key)) for (const listener of this.activations) listener(key);
    return retired;
  }

  /** Takes every plugin out (shutdown); returns their handlers, to drain. */
  retireAll(): PluginHandler[] {
    return [...this.keyOfPlugin].map(([pluginId, key]) => this.takeOut(pluginId, key));
  }

  /** The plugin's version out of the table, the core handler of its key (if any) back in; no listener told. */
  private takeOut(pluginId: string, key: string): PluginHandler {
    const route = this.routes.get(key)!;
    const core = this.cores.get(key);
    if (core) this.routes.set(key, core);
    else this.routes.delete(key);
    this.keyOfPlugin.delete(pluginId);
    return route.handler as PluginHandler;
  }

  /** The plugin's running version on this node. */
  plugin(pluginId: string): PluginHandler | undefined {
    const key = this.keyOfPlugin.get(pluginId);
    return key === undefined ? undefined : (this.routes.get(key)!.handler as PluginHandler);
  }

  /** Every running plugin version, by plugin id. */
  plugins(): Array<[pluginId: string, handler: PluginHandler]> {
    return [...this.keyOfPlugin.keys()].map((pluginId) => [pluginId, this.plugin(pluginId)!]);
  }
}
