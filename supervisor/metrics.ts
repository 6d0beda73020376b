/**
 * Prometheus metrics, served at `GET /metrics`: the supervisor's own process figures, HTTP
 * requests by route and status, and per plugin version on this node (labels `plugin` (its
 * name), `version`, `node`, and `format` where it helps to join with the formats): calls by
 * method and outcome, call durations, running processes, RSS, wasm memory, restarts,
 * runtime events (crashes, limit hits, quarantines) and log lines dropped. Calls count
 * handler calls only: the supervisor's own stats and readiness requests are not calls.
 */
import client from 'prom-client';
import type { RuntimeEvent } from './runtime/pool.js';

/** A plugin version running on this node. */
export interface PluginVersionLabels {
  plugin: string;
  version: string;
}

export interface RunningPluginFigures extends PluginVersionLabels {
  format: string;
  processes: number;
  restarts: number;
  /** Sums over its processes, of those sampled so far. */
  rssBytes: number;
  wasmMemoryBytes: number;
}

export interface PluginGauges {
  runningPlugins(): RunningPluginFigures[];
}

export class Metrics {
  readonly registry = new client.Registry();
  private readonly httpDuration = new client.Histogram({
    name: 'plugin_keeper_http_request_duration_seconds',
    help: 'HTTP requests by method, matched route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  private readonly runtimeEvents = new client.Counter({
    name: 'plugin_keeper_plugin_runtime_events_total',
    help: 'Plugin crashes, restarts, limit hits and quarantines; in_call="true" for failures inside a call, which never count toward quarantine',
    labelNames: ['format', 'type', 'in_call'] as const,
    registers: [this.registry],
  });
  private readonly calls = new client.Counter({
    name: 'plugin_keeper_plugin_calls_total',
    help: 'Handler calls by method and outcome (ok, or the failure code)',
    labelNames: ['plugin', 'version', 'node', 'method', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly callDuration = new client.Histogram({
    name: 'plugin_keeper_plugin_call_duration_seconds',
    help: 'Handler call durations, from sending to the answer',
    labelNames: ['plugin', 'version', 'node', 'method'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  private readonly quarantines = new client.Counter({
    name: 'plugin_keeper_plugin_quarantines_total',
    help: 'Quarantines of a plugin version on this node',
    labelNames: ['plugin', 'version', 'node'] as const,
    registers: [this.registry],
  });
  private readonly logLinesDropped = new client.Counter({
    name: 'plugin_keeper_plugin_log_lines_dropped_total',
    help: 'Plugin log lines dropped on this node: over the per-plugin rate or the buffer bound',
    labelNames: ['plugin', 'version', 'node'] as const,
    registers: [this.registry],
  });

  constructor(plugins: PluginGauges, private readonly node: string) {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'plugin_keeper_' });
    const gauge = (name: string, help: string, figure: (plugin: RunningPluginFigures) => number) =>
      new client.Gauge({
        name,
        help,
        labelNames: ['plugin', 'version', 'node', 'format'] as const,
        registers: [this.registry],
        collect() {
          this.reset();
          for (const plugin of plugins.runningPlugins()) {
            this.set({ plugin: plugin.plugin, version: plugin.version, node, format: plugin.format }, figure(plugin));
          }
        },
      });
    gauge('plugin_keeper_plugin_processes', 'Running child processes of each active plugin version', (p) => p.processes);
    gauge('plugin_keeper_plugin_restarts', 'Child restarts of each running plugin version since it started', (p) => p.restarts);
    gauge('plugin_keeper_plugin_rss_bytes', 'Resident memory of the processes of each running plugin version', (p) => p.rssBytes);
    gauge('plugin_keeper_plugin_wasm_memory_bytes', 'WebAssembly linear memory of the processes of each running plugin version', (p) => p.wasmMemoryBytes);
  }

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.httpDuration.observe({ method, route, status: String(status) }, seconds);
  }

  countRuntimeEvent(format: string, event: RuntimeEvent, plugin?: PluginVersionLabels): void {
    this.runtimeEvents.inc({ format, type: event.type, in_call: String(event.inCall ?? false) });
    if (event.type === 'quarantined' && plugin) this.quarantines.inc({ ...plugin, node: this.node });
  }

  observeCall(plugin: PluginVersionLabels, method: string, outcome: string, seconds: number): void {
    const labels = { ...plugin, node: this.node };
    this.calls.inc({ ...labels, method, outcome });
    this.callDuration.observe({ ...labels, method }, seconds);
  }

  countDroppedLogLines(plugin: PluginVersionLabels, count: number): void {
    this.logLinesDropped.inc({ ...plugin, node: this.node }, count);
  }
}
