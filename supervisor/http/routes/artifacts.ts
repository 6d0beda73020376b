/**
 * A repository's artifacts and index files, relative to REPOSITORY_MOUNTS:
 *
 *   PUT    /:key/artifacts/*path   raw body, streamed to the artifacts service (`?overwrite=true`)
 *   GET    /:key/artifacts         list (`?prefix=`)
 *   GET    /:key/artifacts/*path   download (HEAD too): ETag, Content-Type, Content-Length; one byte range
 *   DELETE /:key/artifacts/*path
 *   GET    /:key/index             the index files, and the last run's outcome
 *   GET    /:key/index/*path       one index file (HEAD too)
 *   POST   /:key/reparse           every artifact parsed again by the handler, the index rebuilt (admin)
 *
 * Downloads are sent as they are stored, never interpreted by the browser as a page of this
 * origin (`nosniff`, and a sandboxing CSP): a handler decides their Content-Type, and a
 * public repository's uploader should not be able to serve script here.
 */
import Router from '@koa/router';
import type { ArtifactService, Download } from '../../services/contracts.js';
import { BytesGone } from '../../services/errors.js';
import { QueryInput } from '../input.js';
import type { AppContext, AppState } from '../state.js';

/** Response headers that keep a served file inert in a browser. */
export const INERT_CONTENT_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': "default-src 'none'; sandbox",
} as const;

export function artifactRoutes(artifacts: ArtifactService): Router<AppState> {
  const router = new Router<AppState>();

  const list = async (ctx: AppContext) => {
    const input = new QueryInput(ctx.query);
    const prefix = input.string('prefix');
    input.done();
    ctx.body = await artifacts.list(ctx.params.key, { prefix });
  };
  router.get('/:key/artifacts', list);

  router.put('/:key/artifacts/{*path}', async (ctx) => {
    const input = new QueryInput(ctx.query);
    const overwrite = input.boolean('overwrite') ?? false;
    input.done();
    ctx.body = await artifacts.upload(ctx.params.key, ctx.params.path ?? '', ctx.req, { overwrite, declaredBytes: ctx.request.length });
    ctx.status = 201;
  });

  router.get('/:key/artifacts/{*path}', async (ctx) => {
    // `/artifacts/` (a trailing slash) is the list, as `/artifacts` is.
    if (ctx.params.path === undefined) return list(ctx);
    await send(ctx, () => artifacts.download(ctx.params.key, ctx.params.path!), { attachment: true });
  });

  router.delete('/:key/artifacts/{*path}', async (ctx) => {
    await artifacts.delete(ctx.params.key, ctx.params.path ?? '');
    ctx.status = 204;
  });

  const listIndex = async (ctx: AppContext) => {
    ctx.body = await artifacts.listIndex(ctx.params.key);
  };
  router.get('/:key/index', listIndex);
  router.get('/:key/index/{*path}', async (ctx) => {
    if (ctx.params.path === undefined) return listIndex(ctx);
    await send(ctx, () => artifacts.indexFile(ctx.params.key, ctx.params.path!), { attachment: false });
  });

  router.post('/:key/reparse', async (ctx) => {
    ctx.body = await artifacts.reparse(ctx.params.key);
  });

  return router;
}

/**
 * Streams a stored file; answers 304 to a matching If-None-Match, and opens nothing for HEAD.
 * A GET with one byte range (`Range: bytes=a-b`, `a-`, `-n`) gets 206 and those bytes (416
 * when none of them exist); several ranges, or an `If-Range` naming another version, get
 * the whole file, as RFC 9110 allows.
 */
async function send(ctx: AppContext, lookup: () => Promise<Download>, options: { attachment: boolean }): Promise<void> {
  // A row read just before another request replaced it names bytes that are gone: the path is
  // looked up again (an index being rebuilt under a reader, on any node, is not a 404).
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await sendOnce(ctx, await lookup(), options);
    } catch (error) {
      if (!(error instanceof BytesGone) || attempt === 3) throw error;
    }
  }
}

async function sendOnce(ctx: AppContext, download: Download, options: { attachment: boolean }): Promise<void> {
  ctx.set(INERT_CONTENT_HEADERS);
  // Content-Disposition; `attachment()` also guesses a type from the name, replaced just below.
  if (options.attachment) ctx.attachment(download.path.slice(download.path.lastIndexOf('/') + 1));
  // As stored, not through `ctx.type` (which would add a charset the handler did not give).
  ctx.set('Content-Type', download.content_type);
  ctx.set('Accept-Ranges', 'bytes');
  ctx.etag = download.checksum_sha256;
  ctx.status = 200;
  if (ctx.fresh) {
    ctx.status = 304;
    return;
  }
  const ifRange = ctx.get('If-Range');
  const range = ctx.method === 'GET' && (!ifRange || ifRange === `"${download.checksum_sha256}"`) ? byteRange(ctx.get('Range'), download.size_bytes) : undefined;
  if (range === 'unsatisfiable') {
    ctx.set('Content-Range', `bytes */${download.size_bytes}`);
    ctx.remove('Content-Type');
    ctx.status = 416;
    return;
  }
  if (range) {
    ctx.status = 206;
    ctx.set('Content-Range', `bytes ${range.start}-${range.end}/${download.size_bytes}`);
    ctx.body = await download.open(range);
    ctx.length = range.end - range.start + 1;
    return;
  }
  if (ctx.method !== 'HEAD') ctx.body = await download.open();
  ctx.length = download.size_bytes;
}

/** One range of a `Range` header within `size` bytes; undefined to send everything (no header, several ranges, another unit, nonsense). */
export function byteRange(header: string, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  const [first, last] = [match[1]!, match[2]!];
  if (first === '') {
    // The last n bytes.
    const length = Number(last);
    if (length === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(size - length, 0), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}
