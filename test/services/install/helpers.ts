// Shared pieces of the install tests: a work folder per test, the options every fetch takes,
// a manifest that passes, and assertions on the service errors callers see.
import { expect } from 'chai';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ServiceError } from '../../../supervisor/services/errors.js';
import type { FetchOptions } from '../../../supervisor/services/install/index.js';

export const MINIMAL_MANIFEST = `
[plugin]
name = "demo-format"
version = "1.0.0"

[format]
key = "demo"
display_name = "Demo"
`;

export function fetchOptions(workDir: string, overrides: Partial<FetchOptions> = {}): FetchOptions {
  return {
    workDir,
    gitAllowPrivate: true,
    localRoots: [],
    requireSigned: false,
    trustedPublicKeys: [],
    ...overrides,
  };
}

/** A fresh temporary folder, removed by the returned function. */
export async function tempFolder(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), `pk-${prefix}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** The ServiceError `work` fails with; fails the test when it succeeds or throws anything else. */
export async function serviceError(work: Promise<unknown>): Promise<ServiceError> {
  let result: unknown;
  try {
    result = await work;
  } catch (error) {
    if (error instanceof ServiceError) return error;
    throw error;
  }
  return expect.fail(`expected a ServiceError, got ${JSON.stringify(result)}`);
}

/** Asserts status, code and that the message matches; returns the error for further checks. */
export async function expectFailure(work: Promise<unknown>, status: number, code: string, message?: RegExp): Promise<ServiceError> {
  const error = await serviceError(work);
  expect({ status: error.status, code: error.code }, error.message).to.deep.equal({ status, code });
  if (message !== undefined) expect(error.message).to.match(message);
  return error;
}

export function validationErrors(error: ServiceError): Array<{ field: string; message: string }> {
  return error.extra.validation_errors as Array<{ field: string; message: string }>;
}

/** Asserts the work folder holds nothing: every temporary folder of a fetch is gone. */
export async function expectEmpty(workDir: string): Promise<void> {
  const left = await readdir(workDir).catch(() => []);
  expect(left, `left behind in ${workDir}`).to.deep.equal([]);
}

/** Writes `files` (relative path → contents) under `dir`. */
export async function writeTree(dir: string, files: Record<string, string | Uint8Array>): Promise<void> {
  for (const [name, contents] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), contents);
  }
}
