/**
 * Prometheus metrics, served without credentials at `GET /metrics`: the supervisor's own
 * process figures, HTTP requests by route and status, and per plugin (labelled by the format
 * it serves) its running processes, restarts and runtime events (crashes, limit hits...).
 */
import client from 'prom-client';
import type { RuntimeEvent } from './runtime/pool.js';

export interface PluginGauges {
  /** Format key, version and the runtime figures of each running plugin version. */
  runningPlugins(): Array<{ format: string; version: string; processes: number; restarts: number }>;
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

  constructor(plugins: PluginGauges) {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'plugin_keeper_' });
    new client.Gauge({
      name: 'plugin_keeper_plugin_processes',
      help: 'Running child processes of each active plugin version',
      labelNames: ['format', 'version'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const plugin of plugins.runningPlugins()) this.set({ format: plugin.format, version: plugin.version }, plugin.processes);
      },
    });
    new client.Gauge({
      name: 'plugin_keeper_plugin_restarts',
      help: 'Child restarts of each running plugin version since it started',
      labelNames: ['format', 'version'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const plugin of plugins.runningPlugins()) this.set({ format: plugin.format, version: plugin.version }, plugin.restarts);
      },
    });
  }

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.httpDuration.observe({ method, route, status: String(status) }, seconds);
  }

  countRuntimeEvent(format: string, event: RuntimeEvent): void {
    this.runtimeEvents.inc({ format, type: event.type, in_call: String(event.inCall ?? false) });
  }
}
