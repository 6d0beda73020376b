/**
 * Each repository's artifact metadata as `/ext` hands it to a plugin, read and encoded once
 * per repository generation (`repositories.artifacts_generation`, moved after every artifact
 * write and re-parse, in its transaction, on any node) and shared by every call meanwhile:
 * a request costs one small query (the generation), not a read and an encoding of every
 * artifact. Calls arriving while the list is read wait for that one read.
 *
 * A list read under generation G holds at least every write up to G (the number moves after
 * the rows), so a list is never older than its number says; a write that lands during the
 * read moves the number, and the next request reads again.
 */
import { encodeArtifacts } from '../../../protocol/methods.js';
import type { Store } from '../../store/store.js';
import { toMetadata } from './indexes.js';

/** Encoded lists kept at most, in all (least recently used out first); a larger list is used once and not kept. */
export const ARTIFACT_LIST_CACHE_BYTES = 64 * 1024 * 1024;

interface Entry {
  generation: number;
  encoded: Promise<Uint8Array>;
  bytes: number;
}

export class ArtifactLists {
  /** By repository id, least recently used first (a Map keeps insertion order). */
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(private readonly store: Store, private readonly capacityBytes = ARTIFACT_LIST_CACHE_BYTES) {}

  /** The repository's artifact list, encoded; undefined when the repository is gone. */
  async encoded(repositoryId: string): Promise<Uint8Array | undefined> {
    const generation = await this.store.artifactsGeneration(repositoryId);
    if (generation === undefined) {
      this.forget(repositoryId);
      return undefined;
    }
    const kept = this.entries.get(repositoryId);
    if (kept && kept.generation >= generation) {
      this.entries.delete(repositoryId);
      this.entries.set(repositoryId, kept);
      return kept.encoded;
    }
    this.forget(repositoryId);
    const entry: Entry = { generation, encoded: this.read(repositoryId), bytes: 0 };
    this.entries.set(repositoryId, entry);
    try {
      const encoded = await entry.encoded;
      if (this.entries.get(repositoryId) === entry && entry.bytes === 0) this.account(repositoryId, entry, encoded.byteLength);
      return encoded;
    } catch (error) {
      if (this.entries.get(repositoryId) === entry) this.entries.delete(repositoryId);
      throw error;
    }
  }

  private async read(repositoryId: string): Promise<Uint8Array> {
    return encodeArtifacts((await this.store.listArtifacts(repositoryId, {})).map(toMetadata));
  }

  private account(repositoryId: string, entry: Entry, bytes: number): void {
    if (bytes > this.capacityBytes) {
      this.entries.delete(repositoryId);
      return;
    }
    entry.bytes = bytes;
    this.bytes += bytes;
    for (const id of this.entries.keys()) {
      if (this.bytes <= this.capacityBytes) break;
      if (id !== repositoryId) this.forget(id);
    }
  }

  private forget(repositoryId: string): void {
    const entry = this.entries.get(repositoryId);
    if (!entry) return;
    this.bytes -= entry.bytes;
    this.entries.delete(repositoryId);
  }
}
