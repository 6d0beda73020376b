/**
 * A repository's index: the files its format handler makes with `generate-index` from the
 * metadata of every artifact, stored as blobs and served under `/index/`.
 *
 * Runs are serialised per repository and bursts coalesce: a request arriving while a run is
 * in progress waits for one more run after it, shared with every other request that arrived
 * meanwhile. So 32 uploads at once cost two runs, not 32, and each upload's caller, when its
 * request resolves, can read an index that includes its artifact.
 *
 * A failed run (the plugin timed out, returned an error, named a bad path) keeps the previous
 * index and records why in the repository's `index_error`; it never fails the upload or the
 * delete that asked for it.
 */
import { lookup } from 'mime-types';
import type { Logger } from 'pino';
import type { BlobStore } from '../../blobs/blob-store.js';
import type { ArtifactMetadata, FormatHandler, IndexFile } from '../../formats/handler.js';
import type { RoutingTable } from '../../formats/routing.js';
import { timestamp } from '../../store/clock.js';
import type { ArtifactRow, IndexFileRow, RepositoryRow, Store } from '../../store/store.js';
import { checkRelativePath } from './paths.js';

export class IndexBuilder {
  private readonly runs = new Map<string, { running: Promise<void>; queued: Promise<void> | undefined }>();

  constructor(
    private readonly deps: {
      store: Store;
      blobs: BlobStore;
      routing: RoutingTable;
      logger: Logger;
    },
  ) {}

  /** Resolves once a run that started after this call has finished, whatever its outcome. */
  refresh(repositoryId: string): Promise<void> {
    const entry = this.runs.get(repositoryId);
    if (!entry) {
      const created = { running: Promise.resolve(), queued: undefined as Promise<void> | undefined };
      this.runs.set(repositoryId, created);
      created.running = this.run(repositoryId, created);
      return created.running;
    }
    entry.queued ??= entry.running.then(() => {
      entry.queued = undefined;
      entry.running = this.run(repositoryId, entry);
      return entry.running;
    });
    return entry.queued;
  }

  /** Never rejects: a queued run chains on it. */
  private async run(repositoryId: string, entry: { queued: Promise<void> | undefined }): Promise<void> {
    try {
      await this.build(repositoryId);
    } catch (error) {
      // The store failed (recording the outcome included): the next upload tries again.
      this.deps.logger.error({ err: error, repository_id: repositoryId }, 'index run failed');
    } finally {
      if (!entry.queued) this.runs.delete(repositoryId);
    }
  }

  private async build(repositoryId: string): Promise<void> {
    const { store } = this.deps;
    const repository = await store.getRepositoryById(repositoryId);
    if (!repository) return;
    const handler = this.deps.routing.get(repository.format);
    if (!handler) {
      await this.fail(repository, `no enabled handler serves the ${repository.format} format; the index was left as it was`);
      return;
    }
    const previous = await store.listIndexFiles(repositoryId);
    if (!handler.capabilities.generate_index && repository.index_error === null && previous.length === 0) {
      // A format without an index, and nothing left from an earlier handler: nothing to do.
      return;
    }
    let files: IndexFile[] | null;
    try {
      files = handler.capabilities.generate_index ? await handler.generateIndex((await store.listArtifacts(repositoryId, {})).map(toMetadata)) : null;
    } catch (error) {
      await this.fail(repository, `generate-index failed: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    const problem = checkIndexFiles(files ?? []);
    if (problem) {
      await this.fail(repository, `generate-index returned ${problem}`);
      return;
    }
    await this.replace(repository, handler, files, previous);
  }

  /** Stores the new files as blobs, swaps the rows in one transaction, then frees the blobs of `previous` nothing names any more. */
  private async replace(repository: RepositoryRow, handler: FormatHandler, files: IndexFile[] | null, previous: IndexFileRow[]): Promise<void> {
    const { store, blobs } = this.deps;
    const releases: Array<() => void> = [];
    try {
      const rows: IndexFileRow[] = [];
      for (const file of files ?? []) {
        const staged = await blobs.stage(file.content);
        releases.push(await blobs.commit(staged));
        rows.push({
          repository_id: repository.id,
          path: (checkRelativePath(file.path) as { path: string }).path,
          size_bytes: staged.size,
          checksum_sha256: staged.sha256,
          content_type: indexContentType(file.path, file.content),
        });
      }
      await store.transaction(async (tx) => {
        await tx.replaceIndexFiles(repository.id, rows);
        // A format without an index has never generated one: `index_generated_at` stays null.
        await tx.setRepositoryIndexState(repository.id, { index_generated_at: files ? timestamp() : null, index_error: null });
      });
      this.deps.logger.debug({ repository: repository.key, handler: handler.formatKey, files: rows.length }, 'index generated');
    } finally {
      for (const release of releases) release();
    }
    const inUse = (sha256: string) => store.blobInUse(sha256);
    for (const sha256 of new Set(previous.map((file) => file.checksum_sha256))) await blobs.removeIfUnused(sha256, inUse);
  }

  private async fail(repository: RepositoryRow, message: string): Promise<void> {
    this.deps.logger.warn({ repository: repository.key, format: repository.format }, message);
    await this.deps.store.setRepositoryIndexState(repository.id, { index_generated_at: repository.index_generated_at, index_error: message });
  }
}

/** What a handler is told about a stored artifact: the server's size and checksum, the handler's version and type. */
export function toMetadata(row: Pick<ArtifactRow, 'path' | 'version' | 'content_type' | 'size_bytes' | 'checksum_sha256'>): ArtifactMetadata {
  return {
    path: row.path,
    version: row.version,
    contentType: row.content_type,
    sizeBytes: row.size_bytes,
    checksumSha256: row.checksum_sha256,
  };
}

/** The first thing wrong with a handler's index files, or undefined. */
function checkIndexFiles(files: IndexFile[]): string | undefined {
  const seen = new Set<string>();
  for (const file of files) {
    const checked = checkRelativePath(file.path);
    if ('problem' in checked) return `an invalid file path ${JSON.stringify(file.path)}: ${checked.problem}`;
    if (seen.has(checked.path)) return `the file path ${JSON.stringify(checked.path)} twice`;
    seen.add(checked.path);
  }
  return undefined;
}

/**
 * Index files carry no type of their own: by extension (maven-metadata.xml, index.yaml,
 * index.html), else JSON when the bytes are JSON (an npm packument at `<name>`), else text
 * when they are UTF-8 (Debian's `Packages`, Go's `list`), else bytes.
 */
export function indexContentType(path: string, data: Uint8Array): string {
  const byExtension = lookup(path);
  if (byExtension) return byExtension.startsWith('text/') || byExtension === 'application/json' ? `${byExtension}; charset=utf-8` : byExtension;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    return 'application/octet-stream';
  }
  if (/^\s*[[{]/.test(text)) {
    try {
      JSON.parse(text);
      return 'application/json; charset=utf-8';
    } catch {
      // Not JSON after all: text.
    }
  }
  return 'text/plain; charset=utf-8';
}
