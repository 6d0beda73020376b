/**
 * Content-addressed files: each blob is named by the SHA-256 of its bytes,
 *
 *   <dataDir>/blobs/sha256/<first 2 hex digits>/<64 hex digits>
 *
 * and comes into being whole or not at all: bytes are written (and hashed while they
 * arrive) to a staging file under `<dataDir>/tmp/blobs`, flushed to disk, then renamed into
 * place, an atomic step on one file system. A crash leaves at most a staging file, never a
 * half blob under its name.
 *
 * The same bytes uploaded twice are one blob. Who uses a blob is the store's business: a
 * blob is removed only through `removeIfUnused`, which asks the caller's check while holding
 * the blob's lock, and skips blobs pinned by a `commit` whose rows are not written yet, so a
 * blob cannot vanish between being committed and being recorded. (The locks and pins live
 * in this process: one supervisor per data directory.)
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Mutex } from '../store/mutex.js';
import { sha256Hex } from '../sha256.js';

/** Bytes received and hashed, not yet a blob; `discard` it when not committed. */
export interface StagedBlob {
  readonly file: string;
  readonly sha256: string;
  readonly size: number;
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

const SHA256_HEX = /^[0-9a-f]{64}$/;

export class BlobStore {
  private readonly locks = new Map<string, { mutex: Mutex; users: number }>();
  /** Blobs committed whose rows are still being written: how many commits hold each. */
  private readonly pins = new Map<string, number>();

  constructor(private readonly dataDir: string) {}

  private get root(): string {
    return path.join(this.dataDir, 'blobs', 'sha256');
  }

  private get stagingDir(): string {
    return path.join(this.dataDir, 'tmp', 'blobs');
  }

  async prepare(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    // Staging files a crash left behind are never committed: start from an empty folder.
    await rm(this.stagingDir, { recursive: true, force: true });
    await mkdir(this.stagingDir, { recursive: true, mode: 0o700 });
  }

  /**
   * Streams `source` to a staging file, hashing as it goes. Past `maxBytes` it stops
   * writing, drains the rest of `source` (so an HTTP client reads the answer rather than a
   * reset) and throws `BlobTooLarge`; on any failure the staging file is gone.
   */
  async receive(source: Readable, maxBytes: number): Promise<StagedBlob> {
    // Listen from the first moment: an 'error' with no listener would bring the process down.
    let early: Error | undefined;
    const onEarlyError = (error: Error) => (early ??= error);
    source.on('error', onEarlyError);
    let file: string;
    try {
      file = await this.stagingFile();
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

  /** Bytes already in memory (generated index files), staged the same way. */
  async stage(data: Uint8Array): Promise<StagedBlob> {
    const file = await this.stagingFile();
    const handle = await open(file, 'w', 0o600);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return { file, sha256: sha256Hex(data), size: data.byteLength };
  }

  /**
   * Renames the staged bytes into place (or drops them when the blob exists: same name, same
   * bytes) and pins the blob: until the returned `release` is called, `removeIfUnused` leaves
   * it alone, so the caller can write the rows naming it without racing a removal. After a
   * failed write, release and `removeIfUnused`.
   */
  async commit(staged: StagedBlob): Promise<() => void> {
    return this.withLock(staged.sha256, async () => {
      const target = this.pathOf(staged.sha256);
      if (!(await exists(target))) {
        await mkdir(path.dirname(target), { recursive: true });
        await rename(staged.file, target);
      }
      await this.discard(staged);
      this.pins.set(staged.sha256, (this.pins.get(staged.sha256) ?? 0) + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const count = (this.pins.get(staged.sha256) ?? 1) - 1;
        if (count === 0) this.pins.delete(staged.sha256);
        else this.pins.set(staged.sha256, count);
      };
    });
  }

  async discard(staged: StagedBlob): Promise<void> {
    await rm(path.dirname(staged.file), { recursive: true, force: true });
  }

  /** Removes the blob unless it is pinned or `inUse` (asked under the blob's lock) says something still names it. */
  async removeIfUnused(sha256: string, inUse: (sha256: string) => Promise<boolean>): Promise<void> {
    await this.withLock(sha256, async () => {
      if (this.pins.has(sha256) || (await inUse(sha256))) return;
      await rm(this.pathOf(sha256), { force: true });
    });
  }

  /** The blob's bytes as a stream; ENOENT (from the stream) when there is no such blob. */
  read(sha256: string): ReadStream {
    return createReadStream(this.pathOf(sha256));
  }

  async has(sha256: string): Promise<boolean> {
    return exists(this.pathOf(sha256));
  }

  pathOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new TypeError(`not a lowercase SHA-256: ${JSON.stringify(sha256)}`);
    return path.join(this.root, sha256.slice(0, 2), sha256);
  }

  /** Each staging file in a folder of its own, so that its name can never be guessed or reused. */
  private async stagingFile(): Promise<string> {
    await mkdir(this.stagingDir, { recursive: true, mode: 0o700 });
    return path.join(await mkdtemp(path.join(this.stagingDir, 'blob-')), 'data');
  }

  private async withLock<T>(sha256: string, work: () => Promise<T>): Promise<T> {
    let entry = this.locks.get(sha256);
    if (!entry) {
      entry = { mutex: new Mutex(), users: 0 };
      this.locks.set(sha256, entry);
    }
    entry.users += 1;
    try {
      return await entry.mutex.run(work);
    } finally {
      entry.users -= 1;
      if (entry.users === 0) this.locks.delete(sha256);
    }
  }
}

/** fsync, so that what is renamed into place is on disk, not only in the page cache. */
async function flush(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );
}
