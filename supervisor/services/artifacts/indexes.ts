/**
 * A repository's index: the files its format handler makes with `generate-index` from the
 * metadata of every artifact, stored as blobs and served under `/index/`.
 *
 * Runs are serialised per repository across every supervisor sharing the database, and
 * bursts coalesce. Each request (made after its artifact row is committed) takes the
 * repository's next request number (`index_requested`); a run, holding the repository's
 * lock (`Store.tryExclusive`: a PostgreSQL advisory lock), reads the latest number when it
 * starts and records it as `index_built` when it is over. A request is served once
 * `index_built` reaches its number, whichever node ran the run: so the run it waited for
 * started after its row was written. On each node one loop per repository drives the
 * requests made there: it runs when the lock is free, else polls until another node's run
 * covers them. So 32 uploads at once cost two runs, not 32, however they are spread.
 *
 * A failed run (the plugin timed out, returned an error, named a bad path) keeps the previous
 * index and records why in the repository's `index_error`; it never fails the upload or the
 * delete that asked for it, and it is over like any other.
 *
 * A run first parses again the artifacts another handler parsed (`parsed_by` differs from the
 * handler's `parserId`: a reload, a plugin replacing a core handler, rows from before
 * migration 008, an admin's reparse), so that their metadata and properties are this
 * handler's own, then hands the handler the repository context on the index base URL
 * (PUBLIC_URL). `refreshStale` requests a run for every repository that needs one of these:
 * at start and whenever the routing table changes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fileSource } from '../../formats/artifact-source.js';
import { lookup } from 'mime-types';
import type { Logger } from 'pino';
import type { BlobStore } from '../../blobs/blob-store.js';
import type { BlobLeases, ReleasePin } from '../../blobs/leases.js';
import type { ArtifactMetadata, FormatHandler, IndexFile } from '../../formats/handler.js';
import { indexFilesProblem } from '../../formats/plugin-results.js';
import type { RoutingTable } from '../../formats/routing.js';
import { timestamp } from '../../store/clock.js';
import type { ArtifactRow, IndexFileRow, RepositoryRow, Store } from '../../store/store.js';
import { checkRelativePath } from '../../relative-path.js';
import { storedParse } from './artifacts.js';
import { repositoryContext } from './context.js';
import { describeError } from '../../../protocol/error-text.js';

/** How soon a node whose requests wait on another node's run looks again: first, and at most (doubling in between). */
const FIRST_POLL_MS = 25;
const MAX_POLL_MS = 200;

interface Waiter {
  wanted: number;
  done: () => void;
}

export class IndexBuilder {
  /** Per repository, the requests of this node not served yet; a loop (`drive`) runs while there are any. */
  private readonly waiting = new Map<string, Waiter[]>();

  constructor(
    private readonly deps: {
      store: Store;
      blobs: BlobStore;
      leases: BlobLeases;
      routing: RoutingTable;
      logger: Logger;
      /** The base URL of the repository context (config.ts `indexBaseUrl`). */
      baseUrl: () => string;
    },
  ) {}

  /**
   * Requests a run (not waiting for it) of every repository (of `format`, or all) whose
   * artifacts another handler parsed, or whose index was made on another base URL. Never rejects.
   */
  async refreshStale(format?: string): Promise<void> {
    const { store, routing } = this.deps;
    try {
      for (const repository of await store.listRepositories(format === undefined ? {} : { format })) {
        const handler = routing.get(repository.format);
        if (!handler) continue;
        const stale =
          (await store.hasArtifactsNotParsedBy(repository.id, handler.parserId)) ||
          (handler.capabilities.generate_index && (await store.getIndexBaseUrl(repository.id)) !== this.deps.baseUrl());
        if (stale) void this.refresh(repository.id);
      }
    } catch (error) {
      this.deps.logger.error({ err: error }, 'stale repositories not looked for');
    }
  }

  /** Resolves once a run that started after this call has finished, on any node, whatever its outcome. Never rejects. */
  async refresh(repositoryId: string): Promise<void> {
    let wanted: number | undefined;
    try {
      wanted = await this.deps.store.requestIndexRun(repositoryId);
    } catch (error) {
      this.deps.logger.error({ err: error, repository_id: repositoryId }, 'index run not requested');
      return;
    }
    // A repository deleted meanwhile has no index to make.
    if (wanted === undefined) return;
    const requested = wanted;
    await new Promise<void>((done) => {
      const waiters = this.waiting.get(repositoryId);
      if (waiters) waiters.push({ wanted: requested, done });
      else {
        this.waiting.set(repositoryId, [{ wanted: requested, done }]);
        void this.drive(repositoryId);
      }
    });
  }

  /** Serves this node's requests of the repository, running when the lock is free; settles every waiter, whatever fails. */
  private async drive(repositoryId: string): Promise<void> {
    const waiters = this.waiting.get(repositoryId)!;
    let pollMs = FIRST_POLL_MS;
    try {
      while (waiters.length > 0) {
        const attempt = await this.deps.store.tryExclusive(`index of repository ${repositoryId}`, () => this.runCovering(repositoryId));
        const built = attempt.ran ? attempt.value : await this.builtGeneration(repositoryId);
        for (const waiter of waiters.filter((w) => w.wanted <= built)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.done();
        }
        if (attempt.ran) pollMs = FIRST_POLL_MS;
        else if (waiters.length > 0) {
          await sleep(pollMs);
          pollMs = Math.min(pollMs * 2, MAX_POLL_MS);
        }
      }
    } catch (error) {
      // The store failed: these requests are given up (the next upload tries again).
      this.deps.logger.error({ err: error, repository_id: repositoryId }, 'index run failed');
      for (const waiter of waiters.splice(0)) waiter.done();
    } finally {
      // No await between the loop's last check and here: a request arriving later starts a new loop.
      this.waiting.delete(repositoryId);
    }
  }

  /** Holding the lock: one run covering every request taken so far, unless one already did. Returns the generation built. */
  private async runCovering(repositoryId: string): Promise<number> {
    const { store } = this.deps;
    const generations = await store.getIndexGenerations(repositoryId);
    if (!generations) return Number.POSITIVE_INFINITY;
    if (generations.built >= generations.requested) return generations.built;
    await this.build(repositoryId);
    await store.setIndexBuilt(repositoryId, generations.requested);
    return generations.requested;
  }

  private async builtGeneration(repositoryId: string): Promise<number> {
    return (await this.deps.store.getIndexGenerations(repositoryId))?.built ?? Number.POSITIVE_INFINITY;
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
    await this.reparse(repository, handler);
    let files: IndexFile[] | null;
    const baseUrl = this.deps.baseUrl();
    try {
      files = handler.capabilities.generate_index
        ? await handler.generateIndex((await store.listArtifacts(repositoryId, {})).map(toMetadata), repositoryContext(baseUrl, repository.format, repository.key))
        : null;
    } catch (error) {
      await this.fail(repository, `generate-index failed: ${describeError(error)}`);
      return;
    }
    const problem = indexFilesProblem(files ?? []);
    if (problem) {
      await this.fail(repository, `generate-index returned an invalid result: ${problem.field} ${problem.problem}`);
      return;
    }
    await this.replace(repository, handler, files, previous);
    await store.setIndexBaseUrl(repositoryId, baseUrl);
  }

  /**
   * Parses again, with `handler`, each artifact another handler parsed: its blob staged (the
   * only files a plugin child may read), then parse-metadata. An artifact the handler cannot
   * parse keeps its metadata and is marked parsed all the same (logged), so that it is not
   * tried at every run; an artifact overwritten meanwhile keeps the newer row.
   */
  private async reparse(repository: RepositoryRow, handler: FormatHandler): Promise<void> {
    const { store, blobs, logger } = this.deps;
    if (!(await store.hasArtifactsNotParsedBy(repository.id, handler.parserId))) return;
    const stale = (await store.listArtifacts(repository.id, {})).filter((row) => row.parsed_by !== handler.parserId);
    let failed = 0;
    for (const row of stale) {
      let parse = { version: row.version, content_type: row.content_type, metadata: row.metadata };
      try {
        if (handler.maxArtifactBytes !== null && row.size_bytes > handler.maxArtifactBytes) {
          throw new Error(`${row.size_bytes} bytes is more than the ${handler.maxArtifactBytes} the handler takes`);
        }
        const staged = await blobs.receive(await blobs.read(row.checksum_sha256), row.size_bytes);
        try {
          parse = storedParse(await handler.use(() => handler.parseMetadata(row.path, fileSource(staged.file, staged.size))), row.checksum_sha256);
        } finally {
          await blobs.discard(staged);
        }
      } catch (error) {
        failed++;
        logger.warn({ err: error, repository: repository.key, path: row.path, handler: handler.parserId }, 'artifact not parsed again; its metadata is kept');
      }
      await store.updateArtifactParse(row.id, row.checksum_sha256, { ...parse, parsed_by: handler.parserId });
    }
    logger.info({ repository: repository.key, handler: handler.parserId, artifacts: stale.length, failed }, 'artifacts parsed again');
  }

  /**
   * Stores the new files as blobs, swaps the rows in one transaction, then frees the blobs of
   * `previous` nothing names any more (or, when the swap failed, the new ones).
   */
  private async replace(repository: RepositoryRow, handler: FormatHandler, files: IndexFile[] | null, previous: IndexFileRow[]): Promise<void> {
    const { store, blobs, leases } = this.deps;
    const releases: ReleasePin[] = [];
    const rows: IndexFileRow[] = [];
    let unused = previous;
    try {
      for (const file of files ?? []) {
        const staged = await blobs.stage(file.content);
        releases.push(await leases.commit(staged));
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
    } catch (error) {
      unused = rows;
      throw error;
    } finally {
      for (const release of releases) await release();
      for (const sha256 of new Set(unused.map((file) => file.checksum_sha256))) await leases.removeIfUnused(sha256);
    }
  }

  private async fail(repository: RepositoryRow, message: string): Promise<void> {
    this.deps.logger.warn({ repository: repository.key, format: repository.format }, message);
    await this.deps.store.setRepositoryIndexState(repository.id, { index_generated_at: repository.index_generated_at, index_error: message });
  }
}

/**
 * What a handler is told about a stored artifact: the server's size and checksum, the
 * handler's version, type and properties (as stored, in their order).
 */
export function toMetadata(row: Pick<ArtifactRow, 'path' | 'version' | 'content_type' | 'size_bytes' | 'checksum_sha256' | 'metadata'>): ArtifactMetadata {
  const properties = row.metadata.properties;
  return {
    path: row.path,
    version: row.version,
    contentType: row.content_type,
    sizeBytes: row.size_bytes,
    checksumSha256: row.checksum_sha256,
    properties: typeof properties === 'object' && properties !== null ? Object.entries(properties as Record<string, string>) : [],
  };
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
