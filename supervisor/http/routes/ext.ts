/**
 * `ANY /ext/:format_key/:repo_key/*path`: a package manager's own protocol, answered by the
 * plugin serving the format (../../services/artifacts/native.ts).
 *
 * What crosses to the plugin is chosen here: the method, the path below the repository, the
 * query string, the body (up to NATIVE_BODY_LIMIT_BYTES), and only the request headers of
 * FORWARDED_REQUEST_HEADERS — never credentials or cookies. What comes back is filtered too:
 * hop-by-hop and framing headers are the server's business, cookies are not the plugin's to
 * set on this origin, and a header Node would refuse is dropped rather than failing the
 * answer. The body is served inert (nosniff, sandboxing CSP), as artifact downloads are.
 */
import { validateHeaderName, validateHeaderValue } from 'node:http';
import Router from '@koa/router';
import type { NativeProtocolService } from '../../services/contracts.js';
import { hasBody, readBody } from '../body.js';
import { EXT_PREFIX } from '../paths.js';
import type { AppContext, AppState } from '../state.js';
import { INERT_CONTENT_HEADERS } from './artifacts.js';

/** Large enough for a publish request of most native protocols; bounded, as it is held in memory. */
export const NATIVE_BODY_LIMIT_BYTES = 16 * 1024 * 1024;

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

const DROPPED_RESPONSE_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'content-length',
  'keep-alive',
  'proxy-authenticate',
  'proxy-connection',
  'set-cookie',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);


export function extRoutes(native: NativeProtocolService): Router<AppState> {
  const router = new Router<AppState>({ prefix: EXT_PREFIX });

  const handle = async (ctx: AppContext) => {
    const body = hasBody(ctx) ? await readBody(ctx, NATIVE_BODY_LIMIT_BYTES, 'the request body') : Buffer.alloc(0);
    const response = await native.handle(
      ctx.params.format_key,
      ctx.params.repo_key,
      {
        method: ctx.method,
        path: `/${ctx.params.path ?? ''}`,
        query: ctx.querystring,
        headers: forwardedHeaders(ctx),
        body,
      },
      // ctx.protocol and ctx.host follow X-Forwarded-Proto/Host only when the app trusts a proxy.
      `${ctx.protocol}://${ctx.host}`,
    );
    ctx.status = response.status;
    for (const [name, value] of response.headers) {
      if (!DROPPED_RESPONSE_HEADERS.has(name.toLowerCase()) && isValidHeader(name, value)) ctx.append(name, value);
    }
    ctx.set(INERT_CONTENT_HEADERS);
    ctx.body = Buffer.from(response.body.buffer, response.body.byteOffset, response.body.byteLength);
  };
  router.all('/:format_key/:repo_key', handle);
  router.all('/:format_key/:repo_key/{*path}', handle);
  return router;
}

/** Node's own rules for what `setHeader` accepts: an answer never fails on a header the plugin made up. */
function isValidHeader(name: string, value: string): boolean {
  try {
    validateHeaderName(name);
    validateHeaderValue(name, value);
    return true;
  } catch {
    return false;
  }
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
