/**
 * This node's plugin processes and routing table, kept in line with the desired state (the
 * plugin and format rows, shared by every node), and this node's actual state written back
 * (`plugin_node_states`, `plugin_processes`, runtime events with its node id).
 *
 * A pass reads the rows and, per plugin: retires what is no longer wanted (disabled,
 * uninstalled: its files go too), leaves a running version that matches alone, and starts a
 * version that differs (another version, component or limits) from the stored component,
 * then swaps it in and drains the old one, so no call is dropped. A start that fails is
 * recorded on this node's row only, and the previous version (if any) keeps serving; it is
 * not retried until the plugin's generation moves (an admin's change), and neither is a
 * quarantined version.
 *
 * Passes run one at a time, and so do the mutations this node commits (`commit`): a pass
 * never sees a change half applied here. Triggers: an announcement from any node, the
 * notification connection coming (back) up, a timer every `reconcileMs`, and a mutation
 * that waits for its own effect here (`reconcileNow`).
 */
import type { Logger } from 'pino';
import type { ChangeNotifier } from '../cluster/notify.js';
import type { PluginHandler } from '../formats/handler.js';
import type { RoutingTable } from '../formats/routing.js';
import { WasmFormatHandler } from '../formats/wasm-handler.js';
import { classifyLine } from '../../protocol/log-lines.js';
import type { PluginVersionLabels, RunningPluginFigures } from '../metrics.js';
import type { RuntimeEvent } from '../runtime/pool.js';
import type { PluginRuntime } from '../runtime/runtime.js';
import type { CapabilitySet, EventSeverity, LogStream, NodePluginState, PluginNodeStateRow, PluginProcessRow, PluginRow, ResourceLimits, Store } from '../store/store.js';
import { validationFailed } from './errors.js';
import type { PluginFiles } from './plugin-files.js';
import { describeError } from '../../protocol/error-text.js';

/** What a service does to change the desired state. */
export interface DesiredStateChanges {
  /**
   * Runs `work` (commit the rows, apply them to this node) with no reconcile pass of this
   * node in between, then tells every node.
   */
  commit<T>(work: () => Promise<T>): Promise<T>;
}

export interface ReconcilerDeps {
  store: Store;
  runtime: PluginRuntime;
  routing: RoutingTable;
  files: PluginFiles;
  notifier: ChangeNotifier;
  nodeId: string;
  /** The safety-net pass, and how often process rows and the heartbeat are written. */
  reconcileMs: number;
  heartbeatMs: number;
  /** How long a node stays live without a heartbeat (for the views of every node). */
  nodeTimeoutMs: number;
  logger: Logger;
  /** Where this node's plugin processes' lines go (services/logs/writer.ts); unset, nowhere. */
  logs?: PluginLogSink;
  /** Told of every runtime event and handler call (metrics), besides the event log. */
  observeRuntimeEvent?: (formatKey: string, event: RuntimeEvent, plugin: PluginVersionLabels) => void;
  observeCall?: (plugin: PluginVersionLabels, method: string, outcome: string, seconds: number) => void;
}

/** What the reconciler needs of the log writer. */
export interface PluginLogSink {
  write(pluginId: string, version: string, pid: number | undefined, stream: LogStream, text: string): void;
  note(pluginId: string, version: string, pid: number | undefined, text: string): void;
}

/** A plugin version to start: its row's fields, and its folder (the child's working directory). */
export interface VersionSpec {
  pluginId: string;
  /** For the metrics' and the service log's `plugin`. */
  pluginName: string;
  version: string;
  formatKey: string;
  capabilities: CapabilitySet;
  limits: ResourceLimits;
  wasmSha256: string;
  wasm: Uint8Array;
  dir: string;
}

const EVENT_SEVERITY: Record<RuntimeEvent['type'], EventSeverity> = {
  crashed: 'error',
  restarted: 'info',
  quarantined: 'error',
  limit_exceeded: 'warning',
};

const LOG_LEVEL = { error: 'error', warning: 'warn', info: 'info' } as const satisfies Record<EventSeverity, string>;

export class Reconciler implements DesiredStateChanges {
  /** The tail of this node's serialised work (passes and commits). */
  private tail: Promise<unknown> = Promise.resolve();
  /** A pass queued and not started yet: later requests join it. */
  private pending: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  /** The process rows being written, if any, and the write queued after it. */
  private beating: Promise<void> | undefined;
  private nextBeat: Promise<void> | undefined;
  private stopped = false;
  /** Plugins whose files a mutation is writing before their rows exist: not swept. */
  private readonly preparing = new Set<string>();
  /** Names of the plugins started here, by id: the metrics' and the service log's `plugin`. */
  private readonly names = new Map<string, string>();

  constructor(private readonly deps: ReconcilerDeps) {}

  /**
   * Starts serving as a member (its row already written by cluster/nodes.ts): none of its stale runtime rows, the first pass
   * (the active plugins start), then announcements and timers.
   */
  async start(): Promise<void> {
    const { store, nodeId, notifier, logger } = this.deps;
    await store.deleteNodeRuntime(nodeId);
    await this.reconcileNow();
    await notifier.start({
      onChange: (fromNode) => {
        if (fromNode !== nodeId) void this.reconcileSoon();
      },
      onConnect: () => void this.reconcileSoon(),
      onError: (error) => logger.warn({ err: error.message }, 'change notifications interrupted; reconnecting'),
    });
    this.timers = [
      setInterval(() => void this.reconcileSoon(), this.deps.reconcileMs),
      setInterval(() => void this.heartbeat(), this.deps.heartbeatMs),
    ];
    for (const timer of this.timers) timer.unref();
  }

  /** Leaves cleanly: no more passes, every plugin drained, this node's runtime rows removed. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    await this.deps.notifier.stop();
    await this.nextBeat;
    await this.beating;
    await this.serially(async () => {
      await Promise.all(this.deps.routing.retireAll().map((handler) => handler.drain()));
    });
    await this.deps.store.deleteNodeRuntime(this.deps.nodeId).catch(() => undefined);
  }

  async commit<T>(work: () => Promise<T>): Promise<T> {
    const result = await this.serially(work);
    void this.heartbeat();
    // Committed: a lost announcement only delays the others until their next pass.
    await this.deps.notifier.announce(this.deps.nodeId).catch((error: Error) => {
      this.deps.logger.warn({ err: error.message }, 'could not announce a change; other nodes follow at their next pass');
    });
    return result;
  }

  /** A pass that starts after every change committed so far; resolves when it is over. */
  reconcileNow(): Promise<void> {
    this.pending ??= this.serially(async () => {
      this.pending = undefined;
      if (!this.stopped) await this.pass();
    });
    return this.pending;
  }

  /** Starts a pass; a failure is logged (the next trigger tries again). */
  private async reconcileSoon(): Promise<void> {
    await this.reconcileNow().catch((error: Error) => this.deps.logger.error({ err: error.message }, 'reconcile failed'));
  }

  /** This node's state row of a plugin, from the store. */
  async ownState(pluginId: string): Promise<PluginNodeStateRow | undefined> {
    return (await this.deps.store.nodeStatesOf(this.deps.nodeId)).find((row) => row.plugin_id === pluginId);
  }

  /** Live nodes (up, and seen within the node timeout) are seen at or after this. */
  async liveSince(): Promise<string> {
    // The database's clock, as the node rows' heartbeats are written by it (cluster/nodes.ts).
    const now = Date.parse(await this.deps.store.databaseTime());
    return new Date(now - this.deps.nodeTimeoutMs).toISOString();
  }

  /** Starts a version's processes; a start failure is a 422 naming the reason. */
  async startVersion(spec: VersionSpec): Promise<PluginHandler> {
    const { runtime, logs } = this.deps;
    const component = await runtime.prepare(spec.wasm);
    let handler: WasmFormatHandler | undefined;
    this.names.set(spec.pluginId, spec.pluginName);
    const labels = { plugin: spec.pluginName, version: spec.version };
    try {
      const pool = await runtime.startVersion({
        version: spec.version,
        component,
        cwd: spec.dir,
        limits: { memoryMb: spec.limits.memory_mb, timeoutMs: spec.limits.timeout_secs * 1000, instances: spec.limits.instances },
        expectedFormatKey: spec.formatKey,
        onEvent: (event) => void this.onRuntimeEvent(spec, handler, event),
        log: (line, pid) => {
          const { stream, text } = classifyLine(line);
          logs?.write(spec.pluginId, spec.version, pid, stream, text);
        },
        onCall: (method, outcome, seconds) => this.deps.observeCall?.(labels, method, outcome, seconds),
      });
      handler = new WasmFormatHandler(spec.formatKey, spec.capabilities, spec.wasmSha256, pool);
      return handler;
    } catch (error) {
      const reason = describeError(error);
      throw validationFailed('plugin_validation_failed', `the plugin did not start: ${reason}`, [{ field: 'wasm', message: reason }]);
    }
  }

  /** Runs `work`, which writes a new plugin's files before its rows exist, safe from the passes' sweep. */
  async whilePreparing<T>(pluginId: string, work: () => Promise<T>): Promise<T> {
    this.preparing.add(pluginId);
    try {
      return await work();
    } finally {
      this.preparing.delete(pluginId);
    }
  }

  /**
   * Runs a version a mutation started (before its commit) on this node: routed when its
   * format is `enabled` (unset: as the version it replaces was), the plugin's previous
   * version drained. Call inside `commit`.
   */
  async adopt(row: PluginRow, handler: PluginHandler, enabled?: boolean): Promise<void> {
    const { routing } = this.deps;
    const previous = enabled === undefined ? routing.replace(row.id, handler) : routing.activate(row.id, handler, enabled);
    await this.record(row, handler.version, 'running', handler.pids(), null);
    await this.retireVersion(row.id, previous, handler);
  }

  /** A plugin's name as started here (its id when it never was): the metrics' `plugin`. */
  pluginName(pluginId: string): string {
    return this.names.get(pluginId) ?? pluginId;
  }

  /** Figures of every version running here, for the metrics. */
  runningPlugins(): RunningPluginFigures[] {
    return this.deps.routing.plugins().map(([pluginId, handler]) => ({
      plugin: this.pluginName(pluginId),
      format: handler.formatKey,
      version: handler.version,
      processes: handler.pids().length,
      restarts: handler.restarts(),
      ...handler.usage(),
    }));
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async pass(): Promise<void> {
    const { store, routing, nodeId } = this.deps;
    const [plugins, formats, states] = await Promise.all([
      store.allPlugins(),
      store.listFormatHandlers({}),
      store.nodeStatesOf(nodeId),
    ]);
    const enabled = new Map(formats.map((format) => [format.format_key, format.is_enabled]));
    for (const format of formats) if (format.handler_type === 'core') routing.setEnabled(format.format_key, format.is_enabled);
    const own = new Map(states.map((state) => [state.plugin_id, state]));
    const wanted = new Set(plugins.map((row) => row.id));

    for (const [pluginId] of routing.plugins()) {
      if (wanted.has(pluginId)) continue;
      await routing.retire(pluginId)?.drain();
      this.names.delete(pluginId);
      await this.deps.files.removePlugin(pluginId);
    }
    // Also catches plugins uninstalled while this node was away.
    for (const id of await this.deps.files.pluginIds()) {
      if (!wanted.has(id) && !this.preparing.has(id)) await this.deps.files.removePlugin(id);
    }
    for (const row of plugins) {
      await this.reconcilePlugin(row, enabled.get(row.format_key) ?? false, own.get(row.id)).catch((error: Error) => {
        this.deps.logger.error({ plugin: row.id, err: error.message }, 'could not reconcile a plugin');
      });
    }
    // In turn with the heartbeats' writes of the same rows.
    await this.heartbeat();
  }

  private async reconcilePlugin(row: PluginRow, enabled: boolean, current: PluginNodeStateRow | undefined): Promise<void> {
    const { routing } = this.deps;
    const running = routing.plugin(row.id);
    if (row.status !== 'active') {
      if (running) {
        routing.retire(row.id);
        await running.drain();
      }
      if (current?.state !== 'stopped' || current.generation !== row.generation) await this.record(row, row.version, 'stopped', [], null);
      return;
    }
    if (running && matches(running, row) && running.state() === 'running') {
      routing.setEnabled(row.format_key, enabled);
      if (current?.state !== 'running' || current.generation !== row.generation) await this.record(row, row.version, 'running', running.pids(), null);
      return;
    }
    // A failure here waits for the admin: the same generation is not tried again.
    const failedHere = current?.generation === row.generation && (current.state === 'error' || current.state === 'quarantined');
    if (failedHere && (!running || running.state() === 'quarantined' || !matches(running, row))) {
      if (running) routing.setEnabled(row.format_key, enabled);
      return;
    }
    await this.record(row, row.version, 'starting', running?.pids() ?? [], null);
    let handler: PluginHandler;
    try {
      handler = await this.startStored(row);
    } catch (error) {
      const reason = describeError(error);
      this.deps.logger.error({ plugin: row.name, version: row.version, node: this.deps.nodeId, event: 'start_failed', reason }, 'plugin start_failed');
      await this.record(row, row.version, 'error', running?.pids() ?? [], `failed to start: ${reason}`);
      await this.event(row.id, 'error', 'error', `${row.name} ${row.version} failed to start on node ${this.deps.nodeId}: ${reason}`, {});
      return;
    }
    await this.adopt(row, handler, enabled);
  }

  /** The version a row describes, from its folder, rebuilt from the stored component when missing. */
  async startStored(row: PluginRow): Promise<PluginHandler> {
    const { store, files } = this.deps;
    const wasm = await store.getBinary(row.wasm_sha256);
    if (!wasm) throw new Error(`the component ${row.wasm_sha256} is missing from the store`);
    const dir = await files.ensureVersion(row.id, row.version, row.wasm_sha256, async () => wasm);
    return this.startVersion({
      pluginId: row.id,
      pluginName: row.name,
      version: row.version,
      formatKey: row.format_key,
      capabilities: row.capabilities,
      limits: row.resource_limits,
      wasmSha256: row.wasm_sha256,
      wasm,
      dir,
    });
  }

  /** Drains the version `next` replaced; its folder goes unless `next` runs from the same one. */
  private async retireVersion(pluginId: string, previous: PluginHandler | undefined, next: PluginHandler): Promise<void> {
    if (!previous || previous === next) return;
    await previous.drain();
    const { files } = this.deps;
    const oldDir = files.versionDir(pluginId, previous.version, previous.wasmSha256);
    if (oldDir !== files.versionDir(pluginId, next.version, next.wasmSha256)) await files.removeVersion(pluginId, previous.version, previous.wasmSha256);
  }


  /** This node's state row of the plugin (nothing is written once the plugin is gone). */
  private async record(row: PluginRow, version: string, state: NodePluginState, pids: number[], errorMessage: string | null): Promise<void> {
    await this.deps.store.putNodeState({
      plugin_id: row.id,
      node_id: this.deps.nodeId,
      version,
      generation: row.generation,
      state,
      pids,
      error_message: errorMessage,
    });
  }

  private async event(pluginId: string, type: RuntimeEvent['type'] | 'error', severity: EventSeverity, message: string, details: Record<string, unknown>) {
    await this.deps.store.addEvent({ plugin_id: pluginId, node_id: this.deps.nodeId, event_type: type, severity, message, details });
  }

  private async onRuntimeEvent(spec: VersionSpec, handler: PluginHandler | undefined, event: RuntimeEvent): Promise<void> {
    const { store, logger, routing, nodeId, logs } = this.deps;
    const { pluginId, pluginName: plugin, version } = spec;
    this.deps.observeRuntimeEvent?.(spec.formatKey, event, { plugin, version });
    // One service log line per crash, restart, limit hit and quarantine; the plugin's own log says it too.
    const line = { plugin, version, node: nodeId, event: event.type, reason: event.reason ?? event.message, pid: event.pid ?? null, message: event.message };
    logger[LOG_LEVEL[EVENT_SEVERITY[event.type]]](line, `plugin ${event.type}`);
    logs?.note(pluginId, version, event.pid, `${event.type}: ${event.message}`);
    try {
      await this.event(pluginId, event.type, EVENT_SEVERITY[event.type], event.message, {
        pid: event.pid ?? null,
        reason: event.reason ?? null,
        in_call: event.inCall ?? null,
        last_exit: event.exit ?? null,
      });
      // Only the version serving here changes this node's state; a draining one does not.
      if (!handler || routing.plugin(pluginId) !== handler) return;
      const row = await store.getPlugin(pluginId);
      if (!row) return;
      if (event.type === 'quarantined') {
        await this.record(row, handler.version, 'quarantined', [], `quarantined: ${event.message}`);
      } else if (event.type === 'restarted' && handler.state() === 'running') {
        await this.record(row, handler.version, 'running', handler.pids(), null);
      }
    } catch (error) {
      // The plugin may have been uninstalled meanwhile; the event is still logged.
      logger.warn({ plugin: pluginId, event, err: describeError(error) }, 'could not record a runtime event');
    }
  }

  /**
   * Heartbeat tick, after a commit and at the end of a pass: every process's figures (the
   * node row is cluster/nodes.ts's). One write at a time: each replaces this node's rows, and
   * two at once would collide on their keys. Asked during a write, one more follows it (with
   * the figures of then), shared by every request made meanwhile. A failed write is logged,
   * never the caller's failure: the next one replaces the rows.
   */
  private heartbeat(): Promise<void> {
    if (this.nextBeat) return this.nextBeat;
    const start = (): Promise<void> => {
      const beat: Promise<void> = (async () => {
        try {
          if (!this.stopped) await this.writeProcesses();
        } catch (error) {
          this.deps.logger.warn({ err: describeError(error) }, 'could not record the heartbeat');
        }
      })().finally(() => {
        if (this.beating === beat) this.beating = undefined;
      });
      this.beating = beat;
      return beat;
    };
    if (!this.beating) return start();
    const next = this.beating.then(() => {
      this.nextBeat = undefined;
      return start();
    });
    this.nextBeat = next;
    return next;
  }

  private async writeProcesses(): Promise<void> {
    const rows: Array<Omit<PluginProcessRow, 'updated_at'>> = [];
    for (const [pluginId, handler] of this.deps.routing.plugins()) {
      const processes = await handler.processes();
      rows.push(...processes.map((p, slot) => ({ node_id: this.deps.nodeId, plugin_id: pluginId, slot, ...processRow(p) })));
    }
    await this.deps.store.transaction((tx) => tx.replaceNodeProcesses(this.deps.nodeId, rows));
  }
}

/** Does the running version match the row's version, component and limits? */
function matches(handler: PluginHandler, row: PluginRow): boolean {
  const limits = row.resource_limits;
  return (
    handler.version === row.version &&
    handler.wasmSha256 === row.wasm_sha256 &&
    handler.limits.memoryMb === limits.memory_mb &&
    handler.limits.timeoutMs === limits.timeout_secs * 1000 &&
    handler.limits.instances === limits.instances
  );
}

/** A process's figures as the API shows them (and `plugin_processes` stores them). */
export function processRow(p: Awaited<ReturnType<PluginHandler['processes']>>[number]) {
  return {
    pid: p.pid,
    version: p.version,
    state: p.state,
    started_at: p.startedAt?.toISOString() ?? null,
    rss_bytes: p.rssBytes,
    cpu_percent: p.cpuPercent,
    wasm_memory_bytes: p.wasmMemoryBytes,
    in_flight: p.inFlight,
    calls_total: p.callsTotal,
    errors_total: p.errorsTotal,
    restarts: p.restarts,
    last_exit: p.lastExit,
  };
}
