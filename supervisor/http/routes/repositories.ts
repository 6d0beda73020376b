/**
 * The repository routes of the contract (artifacts to come), relative to REPOSITORY_MOUNTS.
 */
import Router from '@koa/router';
import type { RepositoryService } from '../../services/contracts.js';
import { readJson } from '../body.js';
import { BodyInput, QueryInput } from '../input.js';
import type { AppState } from '../state.js';

export const REPOSITORY_FIELDS = ['key', 'format', 'description', 'public'] as const;

export function repositoryRoutes(repositories: RepositoryService): Router<AppState> {
  const router = new Router<AppState>();

  router.get('/', async (ctx) => {
    const input = new QueryInput(ctx.query);
    const format = input.string('format');
    input.done();
    ctx.body = await repositories.list({ format });
  });

  router.post('/', async (ctx) => {
    const input = new BodyInput(await readJson(ctx), REPOSITORY_FIELDS);
    const key = input.string('key', { required: true });
    const format = input.string('format', { required: true });
    const description = input.string('description', { required: false, allowEmpty: true });
    const isPublic = input.boolean('public');
    input.done();
    ctx.body = await repositories.create({ key, format, description, public: isPublic });
    ctx.status = 201;
  });

  router.get('/:key', async (ctx) => {
    ctx.body = await repositories.get(ctx.params.key);
  });

  router.delete('/:key', async (ctx) => {
    await repositories.delete(ctx.params.key);
    ctx.status = 204;
  });

  return router;
}
