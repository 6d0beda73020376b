/**
 * `GET /health` and `GET /ready`: is the database answering, how are the plugins and the
 * cluster doing, and may a load balancer send requests here (start-up over, not stopping).
 */
import type { NodeMembership } from '../cluster/nodes.js';
import type { Store } from '../store/store.js';
import type { HealthReport, HealthService, Readiness } from './contracts.js';
import type { PluginLifecycle } from './lifecycle.js';
import { describeError } from '../../protocol/error-text.js';

export class HealthCheck implements HealthService {
  private state: Readiness = 'starting';

  constructor(
    private readonly store: Store,
    private readonly lifecycle: PluginLifecycle,
    private readonly membership: NodeMembership,
  ) {}

  /** The node's first reconcile is done: it serves what the database says. */
  markReady(): void {
    if (this.state === 'starting') this.state = 'ready';
  }

  /** From SIGTERM on: the load balancer must stop sending before the drain starts. */
  markStopping(): void {
    this.state = 'stopping';
  }

  readiness(): Readiness {
    return this.state;
  }

  async health(): Promise<HealthReport> {
    const database = await this.store.ping().then(
      () => ({ ok: true }),
      (error: unknown) => ({ ok: false, error: describeError(error) }),
    );
    if (!database.ok) return { status: 'degraded', checks: { database, plugins: { ok: false, active: 0, running: 0, error: 0, failing: [] } } };
    const plugins = await this.lifecycle.nodeHealth();
    const cluster = await this.membership.health();
    return { status: plugins.ok && cluster.ok ? 'ok' : 'degraded', checks: { database, plugins, cluster } };
  }
}
