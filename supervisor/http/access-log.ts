/** One structured log line per request, written once its final status is known. */
import type { Logger } from 'pino';
import type { AppMiddleware } from './state.js';

export function accessLog(logger: Logger): AppMiddleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      // Placed outside the error middleware, so `ctx.status` is the status actually sent.
      const line = {
        req_id: ctx.state.requestId,
        method: ctx.method,
        path: ctx.path,
        status: ctx.status,
        ms: Number(process.hrtime.bigint() - started) / 1e6,
        role: ctx.state.principal?.role ?? 'anonymous',
        ...(ctx.state.errorCode ? { error: ctx.state.errorCode } : {}),
      };
      // A 5xx is worth a look, but not itself an error of this process: plugin limits and an
      // unreachable database answer 5xx too, and internal errors get a line of their own.
      if (ctx.status >= 500) logger.warn(line, 'request');
      else logger.info(line, 'request');
    }
  };
}
