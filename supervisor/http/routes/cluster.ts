/** The cluster as this node sees it: `GET /nodes` (reader). */
import Router from '@koa/router';
import type { ClusterService } from '../../services/contracts.js';
import type { AppState } from '../state.js';

export function clusterRoutes(cluster: ClusterService): Router<AppState> {
  const router = new Router<AppState>();

  router.get('/nodes', async (ctx) => {
    ctx.body = { items: await cluster.nodes() };
  });

  return router;
}
