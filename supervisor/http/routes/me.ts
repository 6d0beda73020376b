/** `GET /api/v1/me` (any authenticated caller): who the credentials are, so a client can tell what it may do. */
import Router from '@koa/router';
import type { AppState } from '../state.js';

export function meRoutes(): Router<AppState> {
  const router = new Router<AppState>();
  router.get('/', (ctx) => {
    // Auth answers 401 before routing when there are no credentials; this is the safety net.
    const principal = ctx.state.principal!;
    // ADMIN_TOKEN and ADMIN_PASSWORD are no token of the token table: no name to show.
    ctx.body = principal.id === 'bootstrap' ? { role: principal.role } : { role: principal.role, token_name: principal.name };
  });
  return router;
}
