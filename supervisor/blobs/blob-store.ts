/**
 * Content-addressed bytes: each blob is named by the SHA-256 of its bytes (lowercase hex)
 * and comes into being whole or not at all. One interface, two backends: ./file.ts (a local
 * or shared file system) and ./s3.ts (any S3-compatible service); ./open.ts picks one from
 * the configuration.
 *
 * A blob is made in two steps: the bytes are received (hashed while they arrive, since the
 * name is only known at the end) into a staging file, then `put` under their name. The same
 * bytes put twice are one blob.
 *
 * Who uses a blob is not this module's business: a backend puts, reads and removes what it
 * is told. That no blob is removed while any supervisor may still commit a row naming it is
 * ./leases.ts's job, through the database.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { sha256Hex } from '../sha256.js';

/** Bytes received and hashed, not yet a blob; `discard` it when not put. */
export interface StagedBlob {
  readonly file: string;
  readonly sha256: string;
  readonly size: number;
}

/** Bytes `start` to `end`, both inclusive (as in an HTTP Range header), within the blob. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface BlobStore {
  /** Where the blobs are, for logs and messages: `file:/srv/blobs`, `s3://bucket/prefix`. */
  readonly location: string;
  /**
   * This node's folder of staging files: a plugin child may read it (and nothing else of the
   * data directory), since a call names the staged artifact's file instead of sending bytes.
   */
  readonly stagingDir: string;
  /** Creates what the backend needs and empties this node's staging folder (a crash's leftovers). */
  prepare(): Promise<void>;
  /**
   * Streams `source` to a staging file, hashing as it goes. Past `maxBytes` it stops
   * writing, drains the rest of `source` (so an HTTP client reads the answer rather than a
   * reset) and throws `BlobTooLarge`; a source that fails or ends early throws
   * `SourceFailed`. On any failure the staging file is gone.
   */
  receive(source: Readable, maxBytes: number): Promise<StagedBlob>;
  /** Bytes already in memory (generated index files), staged the same way. */
  stage(data: Uint8Array): Promise<StagedBlob>;
  discard(staged: StagedBlob): Promise<void>;
  /**
   * Makes the staged bytes the blob named by their SHA-256 (nothing to copy when it exists
   * already: same name, same bytes), atomically, then discards the staging file. Call it
   * through `BlobLeases.commit`, which pins the blob first.
   */
  put(staged: StagedBlob): Promise<void>;
  /** The blob's bytes (or a range of them) as a stream; `BlobNotFound` when there is no such blob. */
  read(sha256: string, range?: ByteRange): Promise<Readable>;
  has(sha256: string): Promise<boolean>;
  /** Removes the blob; nothing when it is not there. Call it through `BlobLeases.removeIfUnused`. */
  remove(sha256: string): Promise<void>;
  close(): Promise<void>;
}

/** The source had more bytes than the limit; the rest of it was drained, not stored. */
export class BlobTooLarge extends Error {
  constructor(readonly limitBytes: number) {
    super(`more than ${limitBytes} bytes`);
    this.name = 'BlobTooLarge';
  }
}

/** The source failed or closed before its end (a client that went away mid-upload). */
export class SourceFailed extends Error {
  constructor(options?: ErrorOptions) {
    super('the source failed before its end', options);
    this.name = 'SourceFailed';
  }
}

/** No blob has that name (removed meanwhile, or never put). */
export class BlobNotFound extends Error {
  constructor(readonly sha256: string) {
    super(`no blob ${sha256}`);
    this.name = 'BlobNotFound';
  }
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A backend's guard on names it builds paths and keys from. */
export function checkBlobName(sha256: string): string {
  if (!SHA256_HEX.test(sha256)) throw new TypeError(`not a lowercase SHA-256: ${JSON.stringify(sha256)}`);
  return sha256;
}

/** Refuses a range that is not inside a blob of `size` bytes. */
export function checkRange(range: ByteRange, size: number): void {
  if (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) || range.start < 0 || range.end < range.start || range.end >= size) {
    throw new RangeError(`the range ${range.start}-${range.end} is not inside a blob of ${size} bytes`);
  }
}

/**
 * What both backends share: bytes are received, hashed and staged in this node's own folder
 * (`Staging`) before `put` makes them a blob where the backend keeps blobs.
 */
export abstract class StagingBlobStore implements BlobStore {
  abstract readonly location: string;

  constructor(protected readonly staging: Staging) {}

  get stagingDir(): string {
    return this.staging.dir;
  }

  receive(source: Readable, maxBytes: number): Promise<StagedBlob> {
    return this.staging.receive(source, maxBytes);
  }

  stage(data: Uint8Array): Promise<StagedBlob> {
    return this.staging.stage(data);
  }

  discard(staged: StagedBlob): Promise<void> {
    return this.staging.discard(staged);
  }

  abstract prepare(): Promise<void>;
  abstract put(staged: StagedBlob): Promise<void>;
  abstract read(sha256: string, range?: ByteRange): Promise<Readable>;
  abstract has(sha256: string): Promise<boolean>;
  abstract remove(sha256: string): Promise<void>;
  abstract close(): Promise<void>;
}

/**
 * A folder of staging files, one node's own: what `receive`, `stage` and `discard` of both
 * backends do. Each staging file is in a folder of its own, so that its name can never be
 * guessed or reused.
 */
export class Staging {
  constructor(readonly dir: string) {}

  async prepare(): Promise<void> {
    // Staging files a crash left behind are never put: start from an empty folder.
    await rm(this.dir, { recursive: true, force: true });
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  async receive(source: Readable, maxBytes: number): Promise<StagedBlob> {
    // Listen from the first moment: an 'error' with no listener would bring the process down.
    let early: Error | undefined;
    const onEarlyError = (error: Error) => (early ??= error);
    source.on('error', onEarlyError);
    let file: string;
    try {
      file = await this.newFile();
    } finally {
      source.off('error', onEarlyError);
    }
    if (early || (source.destroyed && !source.readableEnded)) {
      await rm(path.dirname(file), { recursive: true, force: true });
      throw new SourceFailed(early && { cause: early });
    }
    const hash = createHash('sha256');
    const out = createWriteStream(file, { mode: 0o600 });
    let size = 0;
    try {
      await new Promise<void>((resolve, reject) => {
        const fail = (error: Error) => {
          source.off('data', onData).off('end', onEnd).off('error', onSourceError).off('close', onClose);
          reject(error);
        };
        const onData = (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            source.resume();
            fail(new BlobTooLarge(maxBytes));
            return;
          }
          hash.update(chunk);
          // Back-pressure: a slow disk pauses the upload instead of buffering it in memory.
          if (!out.write(chunk)) {
            source.pause();
            out.once('drain', () => source.resume());
          }
        };
        const onEnd = () => {
          source.off('data', onData).off('error', onSourceError).off('close', onClose);
          resolve();
        };
        const onClose = () => {
          if (!source.readableEnded) fail(new SourceFailed());
        };
        const onSourceError = (error: Error) => fail(new SourceFailed({ cause: error }));
        out.on('error', fail);
        source.on('data', onData).on('end', onEnd).on('error', onSourceError).on('close', onClose);
      });
      await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
      await flush(file);
    } catch (error) {
      out.destroy();
      await rm(path.dirname(file), { recursive: true, force: true });
      throw error;
    }
    return { file, sha256: hash.digest('hex'), size };
  }

  async stage(data: Uint8Array): Promise<StagedBlob> {
    const file = await this.newFile();
    try {
      const handle = await open(file, 'w', 0o600);
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (error) {
      await rm(path.dirname(file), { recursive: true, force: true });
      throw error;
    }
    return { file, sha256: sha256Hex(data), size: data.byteLength };
  }

  async discard(staged: StagedBlob): Promise<void> {
    await rm(path.dirname(staged.file), { recursive: true, force: true });
  }

  private async newFile(): Promise<string> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    return path.join(await mkdtemp(path.join(this.dir, 'blob-')), 'data');
  }
}

/** fsync, so that what is put is on disk, not only in the page cache. */
export async function flush(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
