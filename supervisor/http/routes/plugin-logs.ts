/**
 * A plugin's log (reader): `GET /:id/logs` (a page of the newest lines) and
 * `GET /:id/logs/stream` (Server-Sent Events of new lines, event id = seq, resuming after
 * `Last-Event-ID`). Mounted under the plugin prefixes beside ./plugins.ts.
 */
import { PassThrough } from 'node:stream';
import Router from '@koa/router';
import type { PluginLogService } from '../../services/contracts.js';
import { LOG_STREAMS, type PluginLogRow } from '../../store/store.js';
import { QueryInput, parseUuid } from '../input.js';
import type { AppState } from '../state.js';

const LIMIT_RANGE = { min: 1, max: 1000 };
const DEFAULT_LIMIT = 100;
const SEQ_RANGE = { min: 0 };
/** A comment line this often keeps proxies from closing a quiet stream. */
const KEEPALIVE_MS = 15_000;
const DURATION = /^(\d{1,9})(ms|s|m|h|d)$/;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

export function pluginLogRoutes(logs: PluginLogService): Router<AppState> {
  const router = new Router<AppState>();

  router.param('id', (raw, ctx, next) => {
    ctx.params.id = parseUuid('id', raw);
    return next();
  });

  router.get('/:id/logs', async (ctx) => {
    const input = new QueryInput(ctx.query);
    const after = ctx.query.after === undefined ? undefined : input.integer('after', SEQ_RANGE, 0);
    const rawSince = input.string('since');
    const since = rawSince === undefined ? undefined : parseSince(rawSince);
    if (rawSince !== undefined && since === undefined) {
      input.invalid('since', `query parameter "since" must be an RFC 3339 time or a duration like 10m, 30s, 2h or 1d, got "${rawSince}"`);
    }
    const query = { after, since, stream: input.oneOf('stream', LOG_STREAMS), limit: input.integer('limit', LIMIT_RANGE, DEFAULT_LIMIT) };
    input.done();
    ctx.body = await logs.list(ctx.params.id, query);
  });

  router.get('/:id/logs/stream', async (ctx) => {
    const input = new QueryInput(ctx.query);
    const fromQuery = ctx.query.after === undefined ? undefined : input.integer('after', SEQ_RANGE, 0);
    const lastEventId = ctx.get('last-event-id');
    if (lastEventId !== '' && !/^\d{1,15}$/.test(lastEventId)) input.invalid('Last-Event-ID', `header Last-Event-ID must be a line's seq, got "${lastEventId}"`);
    input.done();
    const after = lastEventId !== '' ? Number(lastEventId) : fromQuery;

    const abort = new AbortController();
    const batches = await logs.follow(ctx.params.id, after, abort.signal);
    const body = new PassThrough();
    const stop = () => abort.abort();
    // The response closing (the client went away, or the stream ended) stops the polling.
    ctx.res.on('close', stop);
    body.on('close', stop);
    ctx.set('Content-Type', 'text/event-stream; charset=utf-8');
    ctx.set('Cache-Control', 'no-cache');
    ctx.set('X-Accel-Buffering', 'no');
    ctx.status = 200;
    ctx.body = body;
    body.write(': following\n\n');
    const keepalive = setInterval(() => body.write(': keepalive\n\n'), KEEPALIVE_MS);
    void (async () => {
      try {
        for await (const lines of batches) body.write(lines.map(event).join(''));
      } catch {
        // The store failed mid-stream: the client reconnects with Last-Event-ID.
      } finally {
        clearInterval(keepalive);
        body.end();
      }
    })();
  });

  return router;
}

function event(line: PluginLogRow): string {
  return `id: ${line.seq}\ndata: ${JSON.stringify(line)}\n\n`;
}

/** An RFC 3339 time, or a duration back from now (`10m`), as a stored timestamp; undefined when it is neither. */
export function parseSince(raw: string, now = Date.now()): string | undefined {
  const duration = DURATION.exec(raw);
  if (duration) return new Date(now - Number(duration[1]) * DURATION_MS[duration[2]!]!).toISOString();
  if (!RFC3339.test(raw)) return undefined;
  const time = Date.parse(raw);
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}
