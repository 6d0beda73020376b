/**
 * `GET /health` and `GET /ready`: is the database answering, how are the plugins doing,
 * and is start-up (migrations, restarting active plugins) over.
 */
import { describeError } from '../store/errors.js';
import type { Store } from '../store/store.js';
import type { HealthReport, HealthService } from './contracts.js';
import type { PluginLifecycle } from './lifecycle.js';

export class HealthCheck implements HealthService {
  private started = false;

  constructor(
    private readonly store: Store,
    private readonly lifecycle: PluginLifecycle,
  ) {}

  markReady(): void {
    this.started = true;
  }

  ready(): boolean {
    return this.started;
  }

  async health(): Promise<HealthReport> {
    const database = await this.store.ping().then(
      () => ({ ok: true }),
      (error: unknown) => ({ ok: false, error: describeError(error) }),
    );
    let plugins: HealthReport['checks']['plugins'] = { ok: false, active: 0, running: 0, error: 0 };
    if (database.ok) {
      const { active, running, error } = await this.lifecycle.counts();
      plugins = { ok: running >= active, active, running, error };
    }
    return { status: database.ok && plugins.ok ? 'ok' : 'degraded', checks: { database, plugins } };
  }
}
