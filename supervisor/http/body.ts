/**
 * Request bodies: which kind a request carries, JSON read with a size cap, and raw bodies read whole (/ext) with one.
 *
 * A body without a Content-Type is read as JSON (some HTTP clients send none, and JSON is all
 * a non-upload route takes); a type the route does not take is a 415.
 */
import { ServiceError, incompleteBody, payloadTooLarge } from '../services/errors.js';
import type { AppContext } from './state.js';

/** JSON bodies of the API are small objects; uploads go through multipart (./multipart.ts) or stream (routes/artifacts.ts). */
export const JSON_LIMIT_BYTES = 1024 * 1024;

export type BodyKind = 'json' | 'multipart' | 'none';

const MEDIA_TYPES: Record<Exclude<BodyKind, 'none'>, string> = {
  json: 'application/json',
  multipart: 'multipart/form-data',
};

/**
 * The kind of body the request carries: 'none', or one the route accepts; any other is a 415
 * naming what the route takes. (Whether a missing body is acceptable is the route's call.)
 */
export function bodyKind(ctx: AppContext, accepted: readonly Exclude<BodyKind, 'none'>[]): BodyKind {
  const kind = detect(ctx);
  if (kind === 'none' || (kind !== 'other' && accepted.includes(kind))) return kind;
  const wanted = accepted.map((candidate) => MEDIA_TYPES[candidate]);
  throw new ServiceError(415, 'unsupported_media_type', `${ctx.method} ${ctx.path} takes ${wanted.join(' or ')}, got ${ctx.get('Content-Type') || 'no Content-Type'}`);
}

/** Whether the request carries a body (type-is counts `Content-Length: 0`, what fetch sends for a bodiless POST, as one). */
export function hasBody(ctx: AppContext): boolean {
  return ctx.get('Transfer-Encoding') !== '' || (ctx.request.length ?? 0) > 0;
}

function detect(ctx: AppContext): BodyKind | 'other' {
  if (!hasBody(ctx)) return 'none';
  if (!ctx.get('Content-Type') || ctx.is('application/json', '+json')) return 'json';
  if (ctx.is('multipart/form-data')) return 'multipart';
  return 'other';
}

/**
 * The parsed JSON body, or undefined when there is none. Over `limitBytes` → 413
 * `payload_too_large`; malformed → 400 `invalid_json`; another Content-Type → 415.
 */
export async function readJson(ctx: AppContext, limitBytes = JSON_LIMIT_BYTES): Promise<unknown> {
  if (bodyKind(ctx, ['json']) === 'none') return undefined;
  const text = (await readBody(ctx, limitBytes, 'the JSON body')).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ServiceError(400, 'invalid_json', `the body is not valid JSON: ${(error as Error).message}`);
  }
}

/** The whole body in memory, up to `limitBytes` (413 `payload_too_large` naming `what`, and `why` the limit is what it is, past it). */
export function readBody(ctx: AppContext, limitBytes: number, what: string, why?: string): Promise<Buffer> {
  const tooLarge = () => payloadTooLarge(`${what} is larger than the limit of ${limitBytes} bytes${why ? `: ${why}` : ''}`);
  const declared = ctx.request.length;
  // Node discards the unread body after the answer, so the caller reads a 413, not a reset.
  if (declared !== undefined && declared > limitBytes) return Promise.reject(tooLarge());

  const request = ctx.req;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limitBytes) {
        chunks.push(chunk);
        return;
      }
      stop();
      // Keep draining (not destroying) the request, for the same reason as above.
      request.resume();
      reject(tooLarge());
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      stop();
      reject(error);
    };
    const onClose = () => {
      if (request.complete) return;
      stop();
      reject(incompleteBody());
    };
    const stop = () => {
      request.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
    };
    request.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}
