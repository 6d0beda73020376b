/**
 * `X-Request-Id`: the caller's own id when it looks like one (so a proxy's id carries through
 * the logs), else a fresh UUID; echoed on every response, errors included.
 */
import { randomUUID } from 'node:crypto';
import type { AppMiddleware } from './state.js';

export const REQUEST_ID_HEADER = 'X-Request-Id';

/** Ids end up in log lines and error messages: nothing that could forge or break either. */
const ACCEPTABLE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestId(): AppMiddleware {
  return async (ctx, next) => {
    const incoming = ctx.get(REQUEST_ID_HEADER);
    ctx.state.requestId = ACCEPTABLE_ID.test(incoming) ? incoming : randomUUID();
    ctx.set(REQUEST_ID_HEADER, ctx.state.requestId);
    await next();
  };
}
