/**
 * Blob removal that is safe with several supervisors on one database and one blob store:
 * no blob is removed while any node may still commit a row naming it.
 *
 * Both sides take the blob's row lock in the database (`Store.lockBlob`, migration 006):
 *
 * - `commit` (before rows naming a blob are written): in one short transaction, lock the
 *   blob's row and add a pin (this node, expiring after `pinMs`); then put the bytes; the
 *   caller writes its rows and then calls the returned `release`, which drops the pin.
 * - `removeIfUnused` (after rows stopped naming it): in one transaction, lock the blob's
 *   row; if no live pin, artifact or index file names it (one statement), remove the bytes,
 *   then the row.
 *
 * A pin taken while a removal holds the lock waits for it, and puts the bytes again after
 * it; a removal that comes after the pin sees it, or (the pin released) the committed rows.
 * The lock is a database row lock (PostgreSQL) or the writer lock (SQLite), never a lock of
 * this process, so it holds across nodes. A node that dies between pin and release leaves a
 * pin that lapses at its expiry: until then its blob is kept; after, `sweep` (every node runs
 * it now and then) frees it if no row names it. Expiry is on the database's clock, so the
 * nodes' own clocks do not matter.
 */
import { randomUUID } from 'node:crypto';
import type { Store } from '../store/store.js';
import type { BlobStore, StagedBlob } from './blob-store.js';

/** Long enough for the slowest put (a large artifact to a remote bucket) and the row's transaction. */
export const DEFAULT_PIN_MS = 60 * 60 * 1000;
/** How often each node looks for blobs a crash left behind. */
export const SWEEP_INTERVAL_MS = 10 * 60 * 1000;

/** Drops a commit's pin; never rejects (a pin not dropped lapses). */
export type ReleasePin = () => Promise<void>;

export class BlobLeases {
  private readonly pinMs: number;

  constructor(
    private readonly deps: { store: Store; blobs: BlobStore; nodeId: string; pinMs?: number },
  ) {
    this.pinMs = deps.pinMs ?? DEFAULT_PIN_MS;
  }

  /**
   * Pins the blob, then puts the staged bytes under its name. Until `release`,
   * `removeIfUnused` on any node leaves the blob alone, so the caller can write the rows
   * naming it. On failure the staging file is discarded and nothing stays pinned.
   */
  async commit(staged: StagedBlob): Promise<ReleasePin> {
    const { store, blobs } = this.deps;
    const id = randomUUID();
    try {
      await store.transaction(async (tx) => {
        await tx.lockBlob(staged.sha256);
        // The database's clock, which every node shares, as removal compares with it.
        const expires = new Date(Date.parse(await tx.databaseTime()) + this.pinMs).toISOString();
        await tx.pinBlob({ id, sha256: staged.sha256, node_id: this.deps.nodeId, expires_at: expires });
      });
    } catch (error) {
      await blobs.discard(staged);
      throw error;
    }
    let released = false;
    const release: ReleasePin = async () => {
      if (released) return;
      released = true;
      await store.unpinBlob(id).catch(() => undefined);
    };
    try {
      await blobs.put(staged);
    } catch (error) {
      await release();
      throw error;
    }
    return release;
  }

  /**
   * Removes blobs nothing names that no removal took care of: those of a node that died
   * between putting a blob and writing its row (once its pin lapsed), or of a removal that
   * failed. Returns how many were removed; at most `limit` are looked at.
   */
  async sweep(limit = 100): Promise<number> {
    let removed = 0;
    for (const sha256 of await this.deps.store.unusedBlobs(limit)) {
      if (await this.removeIfUnused(sha256)) removed += 1;
    }
    return removed;
  }

  /** Runs `sweep` every `ms` until the returned function is called; a failed sweep is reported and the next one tries again. */
  sweepEvery(ms: number, onError: (error: unknown) => void): () => void {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      this.sweep()
        .catch(onError)
        .finally(() => (running = false));
    }, ms);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** Removes the blob unless a live pin, an artifact or an index file names it; true when removed. */
  removeIfUnused(sha256: string): Promise<boolean> {
    const { store, blobs } = this.deps;
    return store.transaction(async (tx) => {
      await tx.lockBlob(sha256);
      if (await tx.blobInUse(sha256)) return false;
      // Bytes first: a failure here rolls back with the row kept, and the blob can be freed again.
      await blobs.remove(sha256);
      await tx.forgetBlob(sha256);
      return true;
    });
  }
}
