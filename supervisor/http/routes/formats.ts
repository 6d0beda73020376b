/**
 * The format-handler routes of the contract, relative to a mount point: ./app.ts mounts this
 * one router under every prefix of FORMAT_MOUNTS.
 */
import { readFile } from 'node:fs/promises';
import Router from '@koa/router';
import type { FormatService, FormatTestInput } from '../../services/contracts.js';
import { HANDLER_TYPES } from '../../store/store.js';
import { bodyKind, readJson } from '../body.js';
import { BodyInput, QueryInput } from '../input.js';
import { requireFile, withMultipart, type MultipartForm, type UploadOptions } from '../multipart.js';
import type { AppState } from '../state.js';

/** A test artifact is held in memory for the call: large enough for real packages, bounded. */
export const MAX_TEST_ARTIFACT_BYTES = 16 * 1024 * 1024;
/** Room for the artifact as base64 (4 bytes per 3) plus the rest of the JSON. */
const TEST_JSON_LIMIT_BYTES = Math.ceil((MAX_TEST_ARTIFACT_BYTES * 4) / 3) + 64 * 1024;
export const TEST_FILE_FIELDS = ['file'] as const;

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

export interface FormatRouteOptions {
  /** Where uploaded test artifacts are streamed to before being read. */
  tempRoot: string;
}

export function formatRoutes(formats: FormatService, options: FormatRouteOptions): Router<AppState> {
  const router = new Router<AppState>();
  const testUpload: UploadOptions = { tempRoot: options.tempRoot, fileFields: TEST_FILE_FIELDS, maxFileBytes: MAX_TEST_ARTIFACT_BYTES };

  router.get('/', async (ctx) => {
    const input = new QueryInput(ctx.query);
    const query = { handler_type: input.oneOf('handler_type', HANDLER_TYPES), enabled: input.boolean('enabled') };
    input.done();
    ctx.body = await formats.list(query);
  });

  router.get('/:format_key', async (ctx) => {
    ctx.body = await formats.get(ctx.params.format_key);
  });

  router.post('/:format_key/enable', async (ctx) => {
    ctx.body = await formats.enable(ctx.params.format_key);
  });

  router.post('/:format_key/disable', async (ctx) => {
    ctx.body = await formats.disable(ctx.params.format_key);
  });

  router.post('/:format_key/test', async (ctx) => {
    const input =
      bodyKind(ctx, ['json', 'multipart']) === 'multipart'
        ? await withMultipart(ctx, testUpload, (form) => testFromForm(form, testUpload))
        : testFromJson(await readJson(ctx, TEST_JSON_LIMIT_BYTES));
    const result = await formats.test(ctx.params.format_key, input);
    // A failed test is still a complete answer: the same body, with a status that says so.
    ctx.status = result.success ? 200 : 422;
    ctx.body = result;
  });

  return router;
}

/** `file` and `path`; without `path`, the uploaded file's own name. */
async function testFromForm(form: MultipartForm, upload: UploadOptions): Promise<FormatTestInput> {
  const file = requireFile(form, upload);
  const input = new BodyInput({ path: form.fields.path ?? file.filename }, ['path']);
  const path = input.string('path', { required: true });
  input.done();
  return { path, content: await readFile(file.path) };
}

/** `{path, content, base64}`: `content` is text, or base64 when `base64` is true. */
function testFromJson(body: unknown): FormatTestInput {
  const input = new BodyInput(body, ['path', 'content', 'base64']);
  const path = input.string('path', { required: true });
  const content = input.string('content', { required: true, allowEmpty: true });
  const base64 = input.boolean('base64') ?? false;
  // Encoders wrap lines (base64(1) at 76 columns): whitespace is not part of the data.
  const encoded = base64 ? content.replace(/\s+/g, '') : '';
  if (base64 && !BASE64.test(encoded)) input.invalid('content', 'field "content" is not valid base64, and "base64" is true');
  input.done();
  return { path, content: base64 ? Buffer.from(encoded, 'base64') : Buffer.from(content, 'utf8') };
}
