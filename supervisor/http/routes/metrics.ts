/**
 * `GET /metrics`: the Prometheus text exposition, without credentials like the probes, unless
 * `METRICS_TOKEN` is set: then only `Authorization: Bearer <METRICS_TOKEN>` reads it (the
 * figures name every plugin and its crash counts). API tokens do not: a scraper's secret is
 * not an account.
 */
import Router from '@koa/router';
import type { Metrics } from '../../metrics.js';
import { sameSecret } from '../../services/tokens.js';
import { unauthorized } from '../auth.js';
import type { AppMiddleware, AppState } from '../state.js';

export function metricsRoutes(metrics: Metrics, options: { token?: string } = {}): Router<AppState> {
  const router = new Router<AppState>();
  router.get('/metrics', async (ctx) => {
    if (options.token !== undefined) {
      const given = /^Bearer\s+(\S+)$/i.exec(ctx.get('Authorization').trim())?.[1];
      if (given === undefined) throw unauthorized(ctx, 'unauthorized', 'METRICS_TOKEN is set: send "Authorization: Bearer <METRICS_TOKEN>"');
      if (!sameSecret(given, options.token)) throw unauthorized(ctx, 'invalid_credentials', 'the metrics token is not valid');
    }
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
