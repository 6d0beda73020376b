/**
 * `ANY /ext/:format_key/:repo_key/*path`: a package manager's own protocol, answered by the
 * plugin serving the format (../../services/artifacts/native.ts).
 *
 * What crosses to the plugin is chosen here: the method, the path below the repository, the
 * query string, the body (read once the service knows its limit), and only the request
 * headers of FORWARDED_REQUEST_HEADERS — never credentials or cookies. What comes back is
 * filtered too (../ext-response.ts: an allowlist of headers, Location and Link kept within
 * the repository, a private repository's answers never cacheable by shared caches). The body
 * is served inert (nosniff, sandboxing CSP), as artifact downloads are.
 */
import Router from '@koa/router';
import type { NativeProtocolService } from '../../services/contracts.js';
import { hasBody, readBody } from '../body.js';
import { extResponseHeaders } from '../ext-response.js';
import { EXT_PREFIX } from '../paths.js';
import type { AppContext, AppState } from '../state.js';
import { INERT_CONTENT_HEADERS } from './artifacts.js';

/** Content negotiation, conditional and range requests, and who the client is. */
export const FORWARDED_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  'accept',
  'accept-language',
  'content-type',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-unmodified-since',
  'range',
  'user-agent',
]);

export function extRoutes(native: NativeProtocolService): Router<AppState> {
  const router = new Router<AppState>({ prefix: EXT_PREFIX });

  const handle = async (ctx: AppContext) => {
    const { format_key: formatKey, repo_key: repositoryKey } = ctx.params;
    const externalBase = ctx.state.externalBase;
    const response = await native.handle(
      formatKey,
      repositoryKey,
      {
        method: ctx.method,
        path: `/${ctx.params.path ?? ''}`,
        query: ctx.querystring,
        headers: forwardedHeaders(ctx),
        readBody: async (limit) => (hasBody(ctx) ? readBody(ctx, limit.bytes, 'the request body', limit.reason) : Buffer.alloc(0)),
      },
      externalBase,
    );
    const headers = extResponseHeaders(response.headers, {
      formatKey,
      repositoryKey,
      repositoryPublic: response.repositoryPublic,
      externalBase,
      requestUrl: `${externalBase}${ctx.originalUrl}`,
    });
    ctx.status = response.status;
    for (const [name, value] of headers) ctx.append(name, value);
    ctx.set(INERT_CONTENT_HEADERS);
    ctx.body = Buffer.from(response.body.buffer, response.body.byteOffset, response.body.byteLength);
  };
  router.all('/:format_key/:repo_key', handle);
  router.all('/:format_key/:repo_key/{*path}', handle);
  return router;
}

/** The allowlisted request headers, lowercase, in the order received. */
function forwardedHeaders(ctx: AppContext): Array<[string, string]> {
  const raw = ctx.req.rawHeaders;
  const headers: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (FORWARDED_REQUEST_HEADERS.has(name)) headers.push([name, raw[i + 1]]);
  }
  return headers;
}
