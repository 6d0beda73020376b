/**
 * Multipart uploads, streamed to disk with a size cap: the file never sits in memory, an
 * oversized one is cut off at the cap (413 `payload_too_large`), and the request's temporary
 * folder is removed when the handler is done with it, whatever happened.
 */
import { type WriteStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { ServiceError, incompleteBody, payloadTooLarge } from '../services/errors.js';
import { bodyKind } from './body.js';
import type { AppContext } from './state.js';

export interface UploadedFile {
  /** Inside the request's temporary folder; gone once `withMultipart` returns. */
  path: string;
  size: number;
  /** The form field it came in. */
  field: string;
  /** The name the client gave it, if any: reported, never used as a path. */
  filename: string | undefined;
}

export interface MultipartForm {
  file: UploadedFile | undefined;
  /** The text fields. */
  fields: Record<string, string>;
}

export interface UploadOptions {
  /** Fields that may hold the file; the first file in one of them is kept, any other is skipped. */
  fileFields: readonly string[];
  maxFileBytes: number;
  /** Created when missing; each request gets its own folder below it. */
  tempRoot: string;
}

/** Text fields are short (a path, a ref): these bound what a form can make the server hold. */
const FIELD_BYTES = 64 * 1024;
const MAX_FIELDS = 20;
const MAX_PARTS = 50;

/** Receives the form, runs `use` on it, then removes the uploaded file (also when `use` throws). */
export async function withMultipart<T>(ctx: AppContext, options: UploadOptions, use: (form: MultipartForm) => Promise<T>): Promise<T> {
  // No body at all is an empty form (`requireFile` says what was expected); another type, a 415.
  if (bodyKind(ctx, ['multipart']) === 'none') return use({ file: undefined, fields: {} });
  await mkdir(options.tempRoot, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(path.join(options.tempRoot, 'upload-'));
  try {
    return await use(await receive(ctx.req, dir, options));
  } finally {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

/** The form's file, or 400 `no_file` naming the fields looked in. */
export function requireFile(form: MultipartForm, options: Pick<UploadOptions, 'fileFields'>): UploadedFile {
  if (form.file) return form.file;
  const names = options.fileFields.map((name) => `"${name}"`).join(' or ');
  throw new ServiceError(400, 'no_file', `no file was uploaded: send it as a multipart/form-data file in field ${names}`);
}

const invalidMultipart = (detail: string) => new ServiceError(400, 'invalid_multipart', `the multipart/form-data body could not be read: ${detail}`);

function receive(request: IncomingMessage, dir: string, options: UploadOptions): Promise<MultipartForm> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: request.headers,
        // busboy signals 'limit' on reaching fileSize, not on passing it: one byte more lets a
        // file of exactly maxFileBytes through.
        limits: { fileSize: options.maxFileBytes + 1, fieldSize: FIELD_BYTES, fields: MAX_FIELDS, parts: MAX_PARTS },
      });
    } catch (error) {
      reject(invalidMultipart((error as Error).message));
      return;
    }

    const fields: Record<string, string> = {};
    let file: Omit<UploadedFile, 'size'> | undefined;
    let out: WriteStream | undefined;
    /** The kept file's byte count once it is on disk and closed. */
    let written: Promise<number> | undefined;
    let settled = false;

    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      // Stop parsing (the parser is left to the garbage collector: destroying it from inside
      // its own 'limit' event breaks it), and drain rather than destroy the request, so the
      // client reads our answer instead of a reset connection.
      request.unpipe(parser);
      request.resume();
      // No more data will reach the file: close it (ending its pipeline), and only then let
      // the caller remove the folder.
      out?.destroy();
      const rejectNow = () => reject(error);
      (written ?? Promise.resolve()).then(rejectNow, rejectNow);
    };

    parser.on('file', (field, stream, info) => {
      if (file || !options.fileFields.includes(field)) {
        stream.resume();
        return;
      }
      const target = path.join(dir, 'upload');
      file = { path: target, field, filename: info.filename || undefined };
      const sink = createWriteStream(target, { mode: 0o600 });
      out = sink;
      stream.on('limit', () => fail(payloadTooLarge(`the uploaded file is larger than the limit of ${options.maxFileBytes} bytes`)));
      written = pipeline(stream, sink).then(() => sink.bytesWritten);
      written.catch(fail);
    });
    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) fail(invalidMultipart(`field "${name}" is longer than ${FIELD_BYTES} bytes`));
      else fields[name] = value;
    });
    parser.on('partsLimit', () => fail(invalidMultipart(`more than ${MAX_PARTS} parts`)));
    parser.on('fieldsLimit', () => fail(invalidMultipart(`more than ${MAX_FIELDS} fields`)));
    parser.on('error', (error: Error) => fail(invalidMultipart(error.message)));
    parser.on('close', () => {
      (written ?? Promise.resolve(undefined)).then((size) => {
        if (settled) return;
        settled = true;
        resolve({ fields, file: file && size !== undefined ? { ...file, size } : undefined });
      }, fail);
    });
    request.on('close', () => {
      if (!request.complete) fail(incompleteBody());
    });
    request.pipe(parser);
  });
}
