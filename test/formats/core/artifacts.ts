/**
 * Real artifacts for the core format tests, built in the test: gzip tarballs made with
 * node-tar from files written to a temporary folder, zip files (jars, wheels) made with the
 * tests' own ZIP writer (../../support/zips.ts); and the assertions the core format tests share.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import * as tar from 'tar';
import { expect } from 'chai';
import { ArtifactInvalid } from '../../../supervisor/formats/errors.js';
import { makeZip } from '../../support/zips.js';

export type Files = Record<string, string | Uint8Array>;

/** A gzip-compressed tar archive of `files` (paths relative to the archive root). */
export async function tarGz(files: Files): Promise<Buffer> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-core-tar-'));
  try {
    for (const [name, content] of Object.entries(files)) {
      await fs.mkdir(path.join(dir, 'root', path.dirname(name)), { recursive: true });
      await fs.writeFile(path.join(dir, 'root', name), content);
    }
    const out = path.join(dir, 'out.tgz');
    await tar.c({ gzip: true, cwd: path.join(dir, 'root'), file: out, portable: true }, Object.keys(files));
    return await fs.readFile(out);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** An uncompressed tar archive of `files`. */
export async function plainTar(files: Files): Promise<Buffer> {
  return zlib.gunzipSync(await tarGz(files));
}

/** A zip archive of `files`, deflated. */
export async function zip(files: Files): Promise<Buffer> {
  return makeZip(Object.entries(files).map(([name, data]) => ({ name, data })));
}

export function gzip(data: Uint8Array | string): Buffer {
  return zlib.gzipSync(data);
}

/** The tarball with its tar stream cut at `keep` bytes, compressed again (a valid gzip of a truncated tar). */
export function truncateTar(tgz: Buffer, keep: number): Buffer {
  return zlib.gzipSync(zlib.gunzipSync(tgz).subarray(0, keep));
}

/** The tarball without its end-of-archive marker: the tar cut after the last member's last block. */
export function withoutEndMarker(tgz: Buffer): Buffer {
  const raw = zlib.gunzipSync(tgz);
  let end = raw.length;
  while (end > 0 && raw[end - 1] === 0) end--;
  return zlib.gzipSync(raw.subarray(0, Math.ceil(end / 512) * 512));
}

/** A gzip stream of `size` zero bytes, compressed ~1000:1 (a small decompression bomb). */
export function zeroBomb(size: number): Buffer {
  return zlib.gzipSync(Buffer.alloc(size), { level: 9 });
}

/** Asserts that `promise` rejects with ArtifactInvalid, with exactly `message` (string) or matching it (RegExp). */
export async function expectInvalid(promise: Promise<unknown>, message: string | RegExp): Promise<ArtifactInvalid> {
  let failure: unknown;
  try {
    await promise;
  } catch (error) {
    failure = error;
  }
  expect(failure, 'expected a rejection').to.be.instanceOf(ArtifactInvalid);
  const invalid = failure as ArtifactInvalid;
  expect(invalid.code).to.equal('artifact_invalid');
  if (typeof message === 'string') expect(invalid.message).to.equal(message);
  else expect(invalid.message).to.match(message);
  return invalid;
}

export function text(content: Uint8Array): string {
  return new TextDecoder().decode(content);
}
