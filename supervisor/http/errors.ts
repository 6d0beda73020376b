/**
 * Every failure becomes the contract's error body `{error, message, ...extra}` with its
 * status, and no response leaves with an empty error body:
 * - `ServiceError`: as the service built it (it decides what the client is told); a `Busy`
 *   one (503) also says when to try again (`Retry-After`);
 * - `PluginFailure`: the status of the contract's "Plugin failures" table, its code and message
 *   (which already names the limit that was hit);
 * - `ComponentRefused` (the runtime would not transpile the component): 422
 *   `plugin_validation_failed`, one validation error per problem, like the other checks;
 * - `DatabaseUnavailable`: 503, without the connection details;
 * - Koa's own HTTP errors: their status, a code derived from it, their message when exposable;
 * - anything else: 500 `internal_error` with a generic message naming the request id, and the
 *   error itself in the log under that id.
 * Statuses set without a body further down (an unmatched route, a method the route does not
 * have) get a body here too.
 */
import { STATUS_CODES } from 'node:http';
import Koa from 'koa';
import type { Logger } from 'pino';
import { PluginFailure, type PluginFailureCode } from '../formats/errors.js';
import { ComponentRefused } from '../runtime/errors.js';
import { Busy, ServiceError } from '../services/errors.js';
import { DatabaseUnavailable } from '../store/store.js';
import type { AppContext, AppMiddleware } from './state.js';

/** The contract's "Plugin failures seen by callers" table. */
export const PLUGIN_FAILURE_STATUS: Record<PluginFailureCode, number> = {
  artifact_invalid: 422,
  plugin_timeout: 504,
  plugin_memory_exceeded: 507,
  plugin_crashed: 502,
  plugin_invalid_response: 502,
  format_unavailable: 503,
};

interface ErrorBody {
  error: string;
  message: string;
  [extra: string]: unknown;
}

export function errorHandler(logger: Logger): AppMiddleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const { status, body } = describeFailure(error, ctx, logger);
      ctx.status = status;
      if (error instanceof Busy) ctx.set('Retry-After', String(error.retryAfterSeconds));
      ctx.body = body;
      ctx.state.errorCode = body.error;
      return;
    }
    if (ctx.body == null && ctx.status >= 400) {
      const status = ctx.status;
      ctx.body = bodylessStatusBody(ctx);
      ctx.state.errorCode = (ctx.body as ErrorBody).error;
      // Koa turns an implicit 404 into 200 when a body is set.
      ctx.status = status;
    }
  };
}

function describeFailure(error: unknown, ctx: AppContext, logger: Logger): { status: number; body: ErrorBody } {
  if (error instanceof ServiceError) {
    return { status: error.status, body: errorBody(error.code, error.message, error.extra) };
  }
  if (error instanceof PluginFailure) {
    return { status: PLUGIN_FAILURE_STATUS[error.code], body: { error: error.code, message: error.message } };
  }
  if (error instanceof ComponentRefused) {
    const validationErrors = error.problems.map((message) => ({ field: 'wasm', message }));
    return { status: 422, body: errorBody('plugin_validation_failed', error.message, { validation_errors: validationErrors }) };
  }
  if (error instanceof DatabaseUnavailable) {
    logger.error({ req_id: ctx.state.requestId, err: error }, 'database unavailable');
    return {
      status: 503,
      body: { error: 'database_unavailable', message: 'the database cannot be reached at the moment; try again shortly' },
    };
  }
  if (error instanceof Koa.HttpError && error.status >= 400 && error.status < 500) {
    return { status: error.status, body: { error: codeOf(error.status), message: error.expose ? error.message : statusText(error.status) } };
  }
  logger.error({ req_id: ctx.state.requestId, err: error }, 'unhandled error');
  return {
    status: 500,
    body: {
      error: 'internal_error',
      message: `the server failed to handle this request; quote request id ${ctx.state.requestId} when reporting it`,
    },
  };
}

/** `{error, message, ...extra}`, in that order; extras cannot replace the code or the message. */
function errorBody(code: string, message: string, extra: Record<string, unknown>): ErrorBody {
  return Object.assign({ error: code, message }, extra, { error: code, message });
}

/** The body of a status the router set without one. */
function bodylessStatusBody(ctx: AppContext): ErrorBody {
  switch (ctx.status) {
    case 404:
      return { error: 'not_found', message: `there is no ${ctx.method} ${ctx.path}` };
    case 405: {
      const allowed = ctx.response.get('Allow').split(/,\s*/).filter(Boolean);
      return {
        error: 'method_not_allowed',
        message: `${ctx.method} is not allowed on ${ctx.path}; allowed: ${allowed.join(', ')}`,
        allowed,
      };
    }
    default:
      return { error: codeOf(ctx.status), message: statusText(ctx.status) };
  }
}

const statusText = (status: number): string => (STATUS_CODES[status] ?? `HTTP ${status}`).toLowerCase();

/** "Payload Too Large" → `payload_too_large`. */
const codeOf = (status: number): string => statusText(status).replace(/[^a-z0-9]+/g, '_');
