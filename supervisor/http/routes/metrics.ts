/** `GET /metrics`: the Prometheus text exposition, without credentials like the probes. */
import Router from '@koa/router';
import type { Metrics } from '../../metrics.js';
import type { AppMiddleware, AppState } from '../state.js';

export function metricsRoutes(metrics: Metrics): Router<AppState> {
  const router = new Router<AppState>();
  router.get('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
  return router;
}

/**
 * Times every request by its matched route pattern (`/api/v1/plugins/:id`, not the id itself:
 * one series per route, whatever the ids), `unmatched` for the rest.
 */
export function requestMetrics(metrics: Metrics): AppMiddleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const route = typeof ctx._matchedRoute === 'string' ? ctx._matchedRoute : 'unmatched';
      metrics.observeRequest(ctx.method, route, ctx.status, Number(process.hrtime.bigint() - started) / 1e9);
    }
  };
}
