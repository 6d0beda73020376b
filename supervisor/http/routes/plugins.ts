/**
 * The plugin routes of the contract, relative to a mount point: ./app.ts mounts this one
 * router under every prefix of PLUGIN_MOUNTS. Each route reads and checks its input, makes
 * one service call and answers; the services decide everything else.
 */
import Router from '@koa/router';
import type { PluginService, ReloadSource } from '../../services/contracts.js';
import { EVENT_SEVERITIES, PLUGIN_STATUSES, PLUGIN_TYPES, type ResourceLimits } from '../../store/store.js';
import { bodyKind, readJson } from '../body.js';
import { BodyInput, type IntegerRange, QueryInput, parseUuid } from '../input.js';
import { requireFile, withMultipart, type UploadOptions } from '../multipart.js';
import type { AppState } from '../state.js';

export const PAGE_RANGE: IntegerRange = { min: 1 };
export const PER_PAGE_RANGE: Required<IntegerRange> = { min: 1, max: 100 };
export const DEFAULT_PER_PAGE = 20;
export const EVENT_LIMIT_RANGE: Required<IntegerRange> = { min: 1, max: 100 };
export const DEFAULT_EVENT_LIMIT = 50;

/**
 * What an admin may set with `PUT /:id/limits`: the same bounds as the PLUGINS_* settings of
 * the configuration. (The PLUGINS_MAX_* caps bound what a manifest may ask for, not an admin.)
 */
export const LIMIT_RANGES: Record<keyof ResourceLimits, Required<IntegerRange>> = {
  memory_mb: { min: 1, max: 1024 },
  timeout_secs: { min: 1, max: 300 },
  instances: { min: 1, max: 16 },
};

/** Multipart fields a plugin ZIP may come in: `file` per the contract, the others for older clients. */
export const ZIP_FIELDS = ['file', 'package', 'zip'] as const;

/** The install field by which an admin means a plugin to replace a core format's handler (api.md). */
export const REPLACE_CORE = 'replace_core';

/** Only an explicit `true` asks for it; an install source without it reads as before. */
const replacing = (replaceCore: boolean | undefined) => (replaceCore ? { replaceCore: true } : {});

export interface PluginRouteOptions {
  /** Where uploaded ZIPs are streamed to, and how large they may be. */
  uploads: Omit<UploadOptions, 'fileFields'>;
}

export function pluginRoutes(plugins: PluginService, options: PluginRouteOptions): Router<AppState> {
  const router = new Router<AppState>();
  const zipUpload: UploadOptions = { ...options.uploads, fileFields: ZIP_FIELDS };

  router.param('id', (raw, ctx, next) => {
    ctx.params.id = parseUuid('id', raw);
    return next();
  });

  router.get('/', async (ctx) => {
    const input = new QueryInput(ctx.query);
    const query = {
      status: input.oneOf('status', PLUGIN_STATUSES),
      plugin_type: input.oneOf('plugin_type', PLUGIN_TYPES),
      page: input.integer('page', PAGE_RANGE, 1),
      per_page: input.integer('per_page', PER_PAGE_RANGE, DEFAULT_PER_PAGE),
    };
    input.done();
    ctx.body = await plugins.list(query);
  });

  router.post('/install/git', async (ctx) => {
    const input = new BodyInput(await readJson(ctx), ['url', 'ref', 'path', REPLACE_CORE]);
    const url = input.string('url', { required: true });
    const ref = input.string('ref', { required: false });
    const path = input.string('path', { required: false });
    const replaceCore = input.boolean(REPLACE_CORE);
    input.done();
    ctx.body = await plugins.install({ kind: 'git', url, ref, path, ...replacing(replaceCore) });
    ctx.status = 201;
  });

  router.post('/install/zip', async (ctx) => {
    // A multipart field or a query parameter: a ZIP upload has no JSON body to carry it.
    const query = new QueryInput(ctx.query);
    const inQuery = query.boolean(REPLACE_CORE);
    query.done();
    ctx.body = await withMultipart(ctx, zipUpload, (form) => {
      // The form's field reads as a query parameter does ("true" or "false").
      const fields = new QueryInput({ [REPLACE_CORE]: form.fields[REPLACE_CORE] });
      const inForm = fields.boolean(REPLACE_CORE);
      fields.done();
      const replaceCore = inForm ?? inQuery;
      return plugins.install({ kind: 'zip', file: requireFile(form, zipUpload).path, ...replacing(replaceCore) });
    });
    ctx.status = 201;
  });

  router.post('/install/local', async (ctx) => {
    const input = new BodyInput(await readJson(ctx), ['path', REPLACE_CORE]);
    const path = input.string('path', { required: true });
    const replaceCore = input.boolean(REPLACE_CORE);
    input.done();
    ctx.body = await plugins.install({ kind: 'local', path, ...replacing(replaceCore) });
    ctx.status = 201;
  });

  router.get('/:id', async (ctx) => {
    ctx.body = await plugins.get(ctx.params.id);
  });

  router.post('/:id/enable', async (ctx) => {
    ctx.body = await plugins.enable(ctx.params.id);
  });

  router.post('/:id/disable', async (ctx) => {
    ctx.body = await plugins.disable(ctx.params.id);
  });

  router.post('/:id/reload', async (ctx) => {
    const reload = (source: ReloadSource) => plugins.reload(ctx.params.id, source);
    switch (bodyKind(ctx, ['json', 'multipart'])) {
      case 'multipart':
        ctx.body = await withMultipart(ctx, zipUpload, (form) => reload({ kind: 'zip', file: requireFile(form, zipUpload).path }));
        return;
      case 'json': {
        const body = await readJson(ctx);
        const input = new BodyInput(body === undefined ? {} : body, ['ref']);
        const ref = input.string('ref', { required: false });
        input.done();
        // `{}` asks for nothing in particular: the same source, as a bodiless reload does.
        ctx.body = await reload(ref === undefined ? { kind: 'same' } : { kind: 'git', ref });
        return;
      }
      case 'none':
        ctx.body = await reload({ kind: 'same' });
        return;
    }
  });

  router.put('/:id/limits', async (ctx) => {
    const fields = Object.keys(LIMIT_RANGES) as (keyof ResourceLimits)[];
    const input = new BodyInput(await readJson(ctx), fields);
    const limits: Partial<ResourceLimits> = {};
    for (const field of fields) {
      const value = input.integer(field, LIMIT_RANGES[field]);
      if (value !== undefined) limits[field] = value;
    }
    if (input.present().length === 0) input.invalid('body', `the body must give at least one of ${fields.join(', ')}`);
    input.done();
    ctx.body = await plugins.setLimits(ctx.params.id, limits);
  });

  router.delete('/:id', async (ctx) => {
    const input = new QueryInput(ctx.query);
    const force = input.boolean('force') ?? false;
    input.done();
    await plugins.uninstall(ctx.params.id, { force });
    ctx.status = 204;
  });

  router.get('/:id/events', async (ctx) => {
    const input = new QueryInput(ctx.query);
    const query = {
      severity: input.oneOf('severity', EVENT_SEVERITIES),
      limit: input.integer('limit', EVENT_LIMIT_RANGE, DEFAULT_EVENT_LIMIT),
    };
    input.done();
    ctx.body = await plugins.events(ctx.params.id, query);
  });

  router.get('/:id/processes', async (ctx) => {
    ctx.body = await plugins.processes(ctx.params.id);
  });

  return router;
}
