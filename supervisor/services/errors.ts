/**
 * Errors a service raises for its caller to act on. Each carries the HTTP status and the
 * machine code of the contract's error body (`{error, message, ...extra}`); the HTTP layer
 * serializes them as they are, so a service decides what the client is told.
 */

export interface ValidationProblem {
  field: string;
  message: string;
}

export class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra body fields: `validation_errors`, `existing_plugin_id`, `dependent_repositories`... */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/**
 * A download's row was read, then replaced or deleted by another request (an index rebuilt,
 * an artifact overwritten, on any node) and its bytes freed before they were opened: a 404
 * unless the caller looks the path up again, which the download route does.
 */
export class BytesGone extends ServiceError {
  constructor(path: string) {
    super(404, 'not_found', `${path} was replaced or deleted while being opened`);
  }
}

export const badRequest = (message: string, extra?: Record<string, unknown>) =>
  new ServiceError(400, 'bad_request', message, extra);

export const notFound = (message: string) => new ServiceError(404, 'not_found', message);

export const conflict = (code: string, message: string, extra?: Record<string, unknown>) =>
  new ServiceError(409, code, message, extra);

export const payloadTooLarge = (message: string) => new ServiceError(413, 'payload_too_large', message);

/** 422 with every problem at once. */
export const validationFailed = (code: string, message: string, problems: ValidationProblem[]) =>
  new ServiceError(422, code, message, { validation_errors: problems });

/** 503 with `Retry-After`: busy with work of this kind now, not broken; the client may try again then. */
export class Busy extends ServiceError {
  constructor(code: string, message: string, readonly retryAfterSeconds: number) {
    super(503, code, message, { retry_after_seconds: retryAfterSeconds });
  }
}

export const gatewayTimeout = (code: string, message: string) => new ServiceError(504, code, message);

/** The caller went away mid-body; nobody reads the answer, but the log says what happened. */
export const incompleteBody = () => new ServiceError(400, 'incomplete_body', 'the connection closed before the whole body was received');
