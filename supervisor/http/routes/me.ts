/** `GET /api/v1/me` (any authenticated caller): who the credentials name, so a client can tell what it may do. */
import Router from '@koa/router';
import type { AppState } from '../state.js';

export function meRoutes(): Router<AppState> {
  const router = new Router<AppState>();
  router.get('/', (ctx) => {
    // Auth runs first and lets nobody without credentials reach this path.
    const principal = ctx.state.principal!;
    ctx.body = { role: principal.role, token_name: principal.name };
  });
  return router;
}
