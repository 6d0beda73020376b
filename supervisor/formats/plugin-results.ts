/**
 * What a plugin returns, checked where it enters the server (WasmFormatHandler): metadata,
 * index files and native-protocol answers. A plugin is untrusted code; what it returns is
 * stored in rows, written as blobs and sent to clients, so every field is typed and bounded
 * here, once. A result out of bounds is a `PluginInvalidResponse` (502
 * `plugin_invalid_response`) naming the field; the caller stores nothing of it, and it does
 * not count toward quarantine (the call itself succeeded).
 *
 * Which headers of a native answer reach the client, and with what values, is the HTTP
 * layer's policy (../http/ext-response.ts); here only their number and size are bounded.
 */
import { checkRelativePath } from '../relative-path.js';
import { PluginInvalidResponse } from './errors.js';
import type { ArtifactMetadata, HttpResponse, IndexFile } from './handler.js';

const MiB = 1024 * 1024;

export const PLUGIN_RESULT_LIMITS = {
  /** Characters of an artifact's version. */
  versionLength: 256,
  /** Characters of a content type, parameters included. */
  contentTypeLength: 256,
  indexFiles: 10_000,
  indexFileBytes: 64 * MiB,
  indexTotalBytes: 256 * MiB,
  responseBodyBytes: 64 * MiB,
  responseHeaders: 100,
  /** Names and values of all the answer's headers together, in UTF-16 code units. */
  responseHeaderLength: 32 * 1024,
  /** Properties of one artifact's metadata (1.1.0): how many keys... */
  properties: 64,
  /** ...their keys and values together, in UTF-8 bytes... */
  propertiesBytes: 64 * 1024,
  /** ...and one key, in characters. */
  propertyKeyLength: 128,
} as const;

/** `type/subtype` with optional `; name=value` parameters (RFC 9110 tokens, quoted values). */
export const MEDIA_TYPE = /^[A-Za-z0-9][\w!#$&^.+-]*\/[A-Za-z0-9][\w!#$&^.+-]*(\s*;\s*[\w!#$&^.+-]+=("[^"\r\n]*"|[\w!#$&^.+-]+))*$/;

/** Letters, marks, digits, punctuation, symbols and spaces: no control, format or unassigned characters. */
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}\p{Zs}]*$/u;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

/** Statuses a plugin may answer with: a 1xx would desynchronise the client's connection. */
export const PLUGIN_STATUS_RANGE = { min: 200, max: 599 } as const;

/** Thrown by the checks below; `plugin` and `call` name the culprit in the message. */
class Invalid {
  constructor(readonly field: string, readonly problem: string) {}
}

function fail(field: string, problem: string): never {
  throw new Invalid(field, problem);
}

/** Runs `check`, turning its first problem into a PluginInvalidResponse naming the field. */
function checked<T>(formatKey: string, call: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof Invalid)) throw error;
    throw new PluginInvalidResponse(`the ${formatKey} plugin returned an invalid ${call} result: ${error.field} ${error.problem}`);
  }
}

/** parse-metadata's result, as a fresh record of its fields only (properties when the plugin returned some). */
export function checkMetadata(formatKey: string, value: unknown): ArtifactMetadata {
  return checked(formatKey, 'parse-metadata', () => metadata(value));
}

/** generate-index's result (`null`: no index). */
export function checkIndexResult(formatKey: string, value: unknown): IndexFile[] | null {
  return checked(formatKey, 'generate-index', () => {
    if (value === null) return null;
    if (!Array.isArray(value)) fail('the file list', `is ${describe(value)}, not a list`);
    const files = value.map((file, index) => {
      const field = `index file ${index}`;
      const record = object(file, field);
      return { path: string(record.path, `${field} path`), content: bytes(record.content, `${field} content`) };
    });
    const problem = indexFilesProblem(files);
    if (problem) fail(problem.field, problem.problem);
    return files;
  });
}

/**
 * The first thing wrong with a list of index files, core or plugin: too many, too large, a
 * path that is no relative path, or the same path twice.
 */
export function indexFilesProblem(files: IndexFile[]): { field: string; problem: string } | undefined {
  const limits = PLUGIN_RESULT_LIMITS;
  if (files.length > limits.indexFiles) return { field: 'the file list', problem: `has ${files.length} files; at most ${limits.indexFiles}` };
  const seen = new Set<string>();
  let total = 0;
  for (const [index, file] of files.entries()) {
    const field = `index file ${index}`;
    const path = checkRelativePath(file.path);
    if ('problem' in path) return { field: `${field} path`, problem: `${JSON.stringify(file.path.slice(0, 100))} is refused: ${path.problem}` };
    if (seen.has(path.path)) return { field: `${field} path`, problem: `${JSON.stringify(path.path)} names a file already listed` };
    seen.add(path.path);
    if (file.content.byteLength > limits.indexFileBytes) {
      return { field: `${field} content`, problem: `is ${file.content.byteLength} bytes; at most ${limits.indexFileBytes}` };
    }
    total += file.content.byteLength;
    if (total > limits.indexTotalBytes) return { field: 'the file list', problem: `holds more than ${limits.indexTotalBytes} bytes in all` };
  }
  return undefined;
}

/** handle-request's result: a status of 200..599, bounded headers and body. */
export function checkHttpResponse(formatKey: string, value: unknown): HttpResponse {
  return checked(formatKey, 'handle-request', () => {
    const limits = PLUGIN_RESULT_LIMITS;
    const record = object(value, 'the answer');
    const status = record.status;
    if (typeof status !== 'number' || !Number.isInteger(status) || status < PLUGIN_STATUS_RANGE.min || status > PLUGIN_STATUS_RANGE.max) {
      fail('status', `${describe(status)} is not an HTTP status from ${PLUGIN_STATUS_RANGE.min} to ${PLUGIN_STATUS_RANGE.max}`);
    }
    if (!Array.isArray(record.headers)) fail('headers', `is ${describe(record.headers)}, not a list`);
    if (record.headers.length > limits.responseHeaders) fail('headers', `has ${record.headers.length} entries; at most ${limits.responseHeaders}`);
    let length = 0;
    const headers = record.headers.map((header: unknown, index: number): [string, string] => {
      if (!Array.isArray(header) || header.length !== 2) fail(`header ${index}`, 'is not a (name, value) pair');
      const pair: [string, string] = [string(header[0], `header ${index} name`), string(header[1], `header ${index} value`)];
      length += pair[0].length + pair[1].length;
      if (length > limits.responseHeaderLength) fail('headers', `hold more than ${limits.responseHeaderLength} characters in all`);
      return pair;
    });
    const body = bytes(record.body, 'body');
    if (body.byteLength > limits.responseBodyBytes) fail('body', `is ${body.byteLength} bytes; at most ${limits.responseBodyBytes}`);
    return { status, headers, body };
  });
}

function metadata(value: unknown): ArtifactMetadata {
  const limits = PLUGIN_RESULT_LIMITS;
  const record = object(value, 'the metadata');
  const path = string(record.path, 'path');
  const checkedPath = checkRelativePath(path);
  if ('problem' in checkedPath) fail('path', `${JSON.stringify(path.slice(0, 100))} is refused: ${checkedPath.problem}`);

  let version = nullable(record.version, 'version');
  // The WIT's `none` is the way to say "no version"; an empty one means the same.
  if (version === '') version = null;
  if (version !== null) {
    if (version.length > limits.versionLength) fail('version', `is ${version.length} characters long; at most ${limits.versionLength}`);
    const unprintable = [...version].findIndex((character) => !PRINTABLE.test(character));
    if (unprintable >= 0) {
      const code = version.codePointAt([...version].slice(0, unprintable).join('').length)!;
      fail('version', `contains a control or other unprintable character (U+${code.toString(16).toUpperCase().padStart(4, '0')} at ${unprintable})`);
    }
  }

  const contentType = string(record.contentType, 'content type');
  if (contentType.length > limits.contentTypeLength) fail('content type', `is ${contentType.length} characters long; at most ${limits.contentTypeLength}`);
  if (!MEDIA_TYPE.test(contentType)) fail('content type', `${JSON.stringify(contentType)} is not a media type (type/subtype; parameters)`);

  const sizeBytes = record.sizeBytes;
  if (typeof sizeBytes !== 'number' || !Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
    fail('size', `${describe(sizeBytes)} is not a byte count (a whole number from 0 to ${Number.MAX_SAFE_INTEGER})`);
  }

  const checksum = nullable(record.checksumSha256, 'checksum');
  if (checksum !== null && !SHA256_HEX.test(checksum)) {
    fail('checksum', `${JSON.stringify(checksum.slice(0, 100))}${checksum.length > 100 ? '...' : ''} is not a SHA-256 (64 hex digits)`);
  }
  const result: ArtifactMetadata = { path, version, contentType, sizeBytes, checksumSha256: checksum === null ? null : checksum.toLowerCase() };
  if (record.properties !== undefined) result.properties = properties(record.properties);
  return result;
}

/**
 * Properties are stored as they come and never parsed, but bounded: at most 64 keys and
 * 64 KiB in all, keys unique, printable, at most 128 characters (they become the keys of
 * `metadata.properties` in the API's JSON), values any string.
 */
function properties(value: unknown): Array<[string, string]> {
  const limits = PLUGIN_RESULT_LIMITS;
  if (!Array.isArray(value)) fail('properties', `is ${describe(value)}, not a list`);
  if (value.length > limits.properties) fail('properties', `has ${value.length} entries; at most ${limits.properties}`);
  const seen = new Set<string>();
  let bytes = 0;
  return value.map((entry: unknown, index: number): [string, string] => {
    if (!Array.isArray(entry) || entry.length !== 2) fail(`property ${index}`, 'is not a (key, value) pair');
    const key = string(entry[0], `property ${index} key`);
    const text = string(entry[1], `property ${index} value`);
    if (key.length === 0 || key.length > limits.propertyKeyLength) {
      fail(`property ${index} key`, `is ${key.length} characters long; from 1 to ${limits.propertyKeyLength}`);
    }
    if (!PRINTABLE.test(key)) fail(`property ${index} key`, `${JSON.stringify(key)} contains a control or other unprintable character`);
    if (seen.has(key)) fail(`property ${index} key`, `${JSON.stringify(key)} is listed twice; keys are unique`);
    seen.add(key);
    bytes += Buffer.byteLength(key) + Buffer.byteLength(text);
    if (bytes > limits.propertiesBytes) fail('properties', `hold more than ${limits.propertiesBytes} bytes in all`);
    return [key, text];
  });
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, `is ${describe(value)}, not a record`);
  return value as Record<string, unknown>;
}

function string(value: unknown, field: string): string {
  if (typeof value !== 'string') fail(field, `is ${describe(value)}, not a string`);
  return value;
}

function nullable(value: unknown, field: string): string | null {
  return value === null || value === undefined ? null : string(value, field);
}

function bytes(value: unknown, field: string): Uint8Array {
  if (!(value instanceof Uint8Array)) fail(field, `is ${describe(value)}, not bytes`);
  return value;
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'missing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return value.length > 100 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === 'number') return String(value);
  return `a ${typeof value}`;
}
