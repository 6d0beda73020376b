/**
 * Probes, without credentials: `GET /health` (liveness and what is wrong: 503 when the
 * database does not answer) and `GET /ready` (for load balancers: 503 until start-up is
 * over, and again from SIGTERM on).
 */
import Router from '@koa/router';
import type { HealthService } from '../../services/contracts.js';
import type { AppState } from '../state.js';

export function healthRoutes(health: HealthService): Router<AppState> {
  const router = new Router<AppState>();

  router.get('/health', async (ctx) => {
    const report = await health.health();
    ctx.status = report.checks.database.ok ? 200 : 503;
    ctx.body = { status: report.status, checks: report.checks };
  });

  router.get('/ready', (ctx) => {
    const status = health.readiness();
    ctx.status = status === 'ready' ? 200 : 503;
    ctx.body = { status };
  });

  return router;
}
