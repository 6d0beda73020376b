/**
 * Blobs in a folder: a local disk (one node), or a shared file system such as NFS or EFS
 * mounted at the same path on every node. The layout is
 *
 *   <root>/sha256/<first 2 hex digits>/<64 hex digits>
 *
 * and staging files are under `<root>/.staging/<NODE_ID>/`: on the same file system as the
 * blobs, so that putting one is a rename, atomic even on a shared file system, and per node,
 * so that a node starting (and emptying its staging folder) never touches another node's
 * uploads in flight. A staged file is fsynced before the rename and the folder after it:
 * a crash leaves at most a staging file, never a half blob under its name.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { BlobNotFound, checkBlobName, checkRange, Staging, StagingBlobStore, type ByteRange, type StagedBlob } from './blob-store.js';

export class FileBlobStore extends StagingBlobStore {
  readonly location: string;

  constructor(
    private readonly root: string,
    nodeId: string,
  ) {
    super(new Staging(path.join(root, '.staging', nodeId)));
    this.location = `file:${root}`;
  }

  async prepare(): Promise<void> {
    await mkdir(path.join(this.root, 'sha256'), { recursive: true });
    await this.staging.prepare();
  }

  async put(staged: StagedBlob): Promise<void> {
    const target = this.pathOf(staged.sha256);
    try {
      if (!(await this.has(staged.sha256))) {
        await mkdir(path.dirname(target), { recursive: true });
        // Two nodes putting the same bytes at once both rename: the last one wins, same bytes.
        await rename(staged.file, target);
        await syncFolder(path.dirname(target));
      }
    } finally {
      await this.staging.discard(staged);
    }
  }

  async read(sha256: string, range?: ByteRange): Promise<Readable> {
    let handle: FileHandle;
    try {
      handle = await open(this.pathOf(sha256), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFound(sha256);
      throw error;
    }
    try {
      if (range) checkRange(range, (await handle.stat()).size);
    } catch (error) {
      await handle.close();
      throw error;
    }
    // The stream owns the handle from here, and closes it at its end or when destroyed.
    return createReadStream('', { fd: handle, start: range?.start, end: range?.end });
  }

  async has(sha256: string): Promise<boolean> {
    return stat(this.pathOf(sha256)).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return false;
        throw error;
      },
    );
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.pathOf(sha256), { force: true });
  }

  async close(): Promise<void> {}

  /** The blob's file (which may not exist). */
  pathOf(sha256: string): string {
    checkBlobName(sha256);
    return path.join(this.root, 'sha256', sha256.slice(0, 2), sha256);
  }
}

/** fsync of a folder: the rename itself is on disk. Some file systems cannot sync a folder; the rename stands. */
async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync().catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EINVAL' && error.code !== 'EISDIR') throw error;
    });
  } finally {
    await handle.close();
  }
}
