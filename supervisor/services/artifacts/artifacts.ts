/**
 * Artifacts: uploads go through the repository's format handler, core or plugin alike.
 *
 * Upload, in order: the repository (404), the path (400), a handler serving the format (503
 * `format_unavailable`), the path not taken (409 unless overwrite), the size limit (413,
 * before reading when Content-Length says so), the bytes streamed to a staging file and
 * hashed, then the handler's `validate` and `parse-metadata` (422 `artifact_invalid`, or the
 * plugin failure's own status). Only then is anything written: the blob renamed into place,
 * the row inserted or replaced. A failure at any step before leaves no blob and no row.
 * Last, the index is regenerated (./indexes.ts) and the upload answers when that run is over.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { BlobStore, StagedBlob } from '../../blobs/blob-store.js';
import { BlobNotFound, BlobTooLarge, SourceFailed } from '../../blobs/blob-store.js';
import type { BlobLeases } from '../../blobs/leases.js';
import { fileSource } from '../../formats/artifact-source.js';
import type { ArtifactMetadata, FormatHandler } from '../../formats/handler.js';
import { MEDIA_TYPE, PLUGIN_RESULT_LIMITS } from '../../formats/plugin-results.js';
import type { RoutingTable } from '../../formats/routing.js';
import { UniqueViolation, type ArtifactRow, type NewArtifact, type RepositoryRow, type Store } from '../../store/store.js';
import type { ArtifactService, ArtifactView, BodyLimit, Download, IndexFileView, ReparseResult, UploadOptions } from '../contracts.js';
import { BytesGone, conflict, incompleteBody, notFound, payloadTooLarge } from '../errors.js';
import { repositoryNotFound } from '../repositories.js';
import type { IndexBuilder } from './indexes.js';
import { normalizeArtifactPath } from './paths.js';

export interface ArtifactCatalogDeps {
  store: Store;
  blobs: BlobStore;
  leases: BlobLeases;
  routing: RoutingTable;
  indexes: IndexBuilder;
  /** The server's own upload limit, bytes. */
  maxUploadBytes: number;
}

export class ArtifactCatalog implements ArtifactService {
  constructor(private readonly deps: ArtifactCatalogDeps) {}

  async upload(repositoryKey: string, rawPath: string, body: Readable, options: UploadOptions): Promise<ArtifactView> {
    const { store, blobs } = this.deps;
    const repository = await this.repository(repositoryKey);
    const path = normalizeArtifactPath(rawPath);
    const handler = this.deps.routing.require(repository.format);
    if (!options.overwrite && (await store.getArtifact(repository.id, path))) throw exists(repositoryKey, path);

    const limit = this.uploadLimit(handler);
    if (options.declaredBytes !== undefined && options.declaredBytes > limit.bytes) {
      body.resume();
      throw tooLarge(limit);
    }
    const staged = await blobs.receive(body, limit.bytes).catch((error: unknown) => {
      if (error instanceof BlobTooLarge) throw tooLarge(limit);
      if (error instanceof SourceFailed) throw incompleteBody();
      throw error;
    });

    let row: ArtifactRow;
    let replaced: ArtifactRow | undefined;
    try {
      // The handler reads the staged file (a plugin host opens it itself): no copy in memory here.
      const artifact = fileSource(staged.file, staged.size);
      // Looked up again: a reload may have swapped the version while the body streamed in.
      const parse = await this.deps.routing.use(repository.format, async (current) => {
        await current.validate(path, artifact);
        return { metadata: await current.parseMetadata(path, artifact), parsedBy: current.parserId };
      });
      ({ row, replaced } = await this.record(repository, path, staged, parse, options.overwrite));
    } catch (error) {
      await blobs.discard(staged);
      throw error;
    }
    if (replaced && replaced.checksum_sha256 !== row.checksum_sha256) await this.freeBlob(replaced.checksum_sha256);
    await this.deps.indexes.refresh(repository.id);
    return view(row);
  }

  async list(repositoryKey: string, query: { prefix?: string }): Promise<{ items: ArtifactView[]; total: number }> {
    const repository = await this.repository(repositoryKey);
    const items = (await this.deps.store.listArtifacts(repository.id, query)).map(view);
    return { items, total: items.length };
  }

  async download(repositoryKey: string, rawPath: string): Promise<Download> {
    const repository = await this.repository(repositoryKey);
    const path = normalizeArtifactPath(rawPath);
    const row = await this.deps.store.getArtifact(repository.id, path);
    if (!row) throw noArtifact(repositoryKey, path);
    return this.downloadOf(row);
  }

  async delete(repositoryKey: string, rawPath: string): Promise<void> {
    const repository = await this.repository(repositoryKey);
    const path = normalizeArtifactPath(rawPath);
    // In a transaction: the repository's artifacts generation moves with the row.
    const deleted = await this.deps.store.transaction((tx) => tx.deleteArtifact(repository.id, path));
    if (!deleted) throw noArtifact(repositoryKey, path);
    await this.freeBlob(deleted.checksum_sha256);
    await this.deps.indexes.refresh(repository.id);
  }

  async listIndex(repositoryKey: string): Promise<{ items: IndexFileView[]; total: number; generated_at: string | null; error: string | null }> {
    const repository = await this.repository(repositoryKey);
    const items = (await this.deps.store.listIndexFiles(repository.id)).map(({ repository_id: _, ...file }) => file);
    return { items, total: items.length, generated_at: repository.index_generated_at, error: repository.index_error };
  }

  /**
   * An index file by path; a folder path (`simple/` or `simple`) serves its `index.html` when
   * there is one. Else the artifact at that path: the index tree lies over the artifacts, so
   * the relative links of generated indexes (`../../pkg-1.0.whl` in a PEP 503 page) resolve.
   */
  async indexFile(repositoryKey: string, rawPath: string): Promise<Download> {
    const { store } = this.deps;
    const repository = await this.repository(repositoryKey);
    const path = normalizeArtifactPath(rawPath);
    const file =
      (await store.getIndexFile(repository.id, path)) ??
      (await store.getIndexFile(repository.id, `${path}/index.html`)) ??
      (await store.getArtifact(repository.id, path));
    if (!file) throw notFound(`repository ${repositoryKey} has no index file or artifact at ${path} (GET .../index lists the index files)`);
    return this.downloadOf(file);
  }

  async reparse(repositoryKey: string): Promise<ReparseResult> {
    const repository = await this.repository(repositoryKey);
    this.deps.routing.require(repository.format);
    const artifacts = await this.deps.store.forgetArtifactParses(repository.id);
    // The run re-parses what no handler is known to have parsed, then generates the index.
    await this.deps.indexes.refresh(repository.id);
    const after = await this.repository(repositoryKey);
    return { repository: repositoryKey, artifacts, index_generated_at: after.index_generated_at, index_error: after.index_error };
  }

  async isPublic(repositoryKey: string): Promise<boolean> {
    return (await this.deps.store.getRepository(repositoryKey))?.public ?? false;
  }

  /** Puts the blob and writes the row, inserting or (with overwrite) replacing, while the blob is pinned; a failed write frees the blob. */
  private async record(
    repository: RepositoryRow,
    path: string,
    staged: StagedBlob,
    parse: { metadata: ArtifactMetadata; parsedBy: string },
    overwrite: boolean,
  ): Promise<{ row: ArtifactRow; replaced: ArtifactRow | undefined }> {
    const { store, leases } = this.deps;
    const artifact: NewArtifact = {
      id: randomUUID(),
      repository_id: repository.id,
      ...storedArtifact(path, staged, parse.metadata),
      parsed_by: parse.parsedBy,
    };
    const release = await leases.commit(staged);
    try {
      return await store
        .transaction(async (tx) => {
          const replaced = overwrite ? await tx.getArtifact(repository.id, path) : undefined;
          const row = replaced ? await tx.replaceArtifact(artifact) : await tx.insertArtifact(artifact);
          if (!row) throw new Error(`the artifact ${path} vanished while being replaced`);
          return { row, replaced };
        })
        .finally(release);
    } catch (error) {
      await this.freeBlob(staged.sha256);
      // Two uploads of a new path at once: the second one meets the first one's row.
      if (error instanceof UniqueViolation) throw exists(repository.key, path);
      throw error;
    }
  }

  private async freeBlob(sha256: string): Promise<void> {
    await this.deps.leases.removeIfUnused(sha256);
  }

  private downloadOf(row: { path: string; size_bytes: number; checksum_sha256: string; content_type: string }): Download {
    return {
      path: row.path,
      size_bytes: row.size_bytes,
      checksum_sha256: row.checksum_sha256,
      content_type: row.content_type,
      open: (range) =>
        this.deps.blobs.read(row.checksum_sha256, range).catch((error: unknown) => {
          // The row was read, then replaced or deleted (and its blob freed) by another request before the bytes were opened.
          if (error instanceof BlobNotFound) throw new BytesGone(row.path);
          throw error;
        }),
    };
  }

  private uploadLimit(handler: FormatHandler): BodyLimit {
    return handlerLimit(handler, { bytes: this.deps.maxUploadBytes, reason: `the server's upload limit is ${this.deps.maxUploadBytes} bytes (ARTIFACTS_MAX_MB)` });
  }

  private async repository(key: string): Promise<RepositoryRow> {
    const repository = await this.deps.store.getRepository(key);
    if (!repository) throw repositoryNotFound(key);
    return repository;
  }
}

/**
 * What is stored of an upload: the server's own path, size and checksum, the handler's version
 * (bounded) and content type (when it is one), and the handler's record as it came (with the
 * server's checksum when it gave none), its properties as a JSON object (`metadata.properties`,
 * in the handler's order). Also what
 * `plugin-keeper test` hands to generate-index, so that an author sees the server's view.
 */
export function storedArtifact(
  path: string,
  stored: { size: number; sha256: string },
  metadata: ArtifactMetadata,
): Omit<NewArtifact, 'id' | 'repository_id' | 'parsed_by'> {
  return {
    path,
    size_bytes: stored.size,
    checksum_sha256: stored.sha256,
    ...storedParse(metadata, stored.sha256),
  };
}

/**
 * The part of a stored artifact that parse-metadata decides (what a re-parse rewrites). A
 * handler that gives no checksum gets the server's (`sha256`), never a `null` beside it.
 */
export function storedParse(metadata: ArtifactMetadata, sha256: string): Pick<ArtifactRow, 'version' | 'content_type' | 'metadata'> {
  return {
    version: metadata.version ? metadata.version.slice(0, PLUGIN_RESULT_LIMITS.versionLength) : null,
    content_type: isContentType(metadata.contentType) ? metadata.contentType : 'application/octet-stream',
    metadata: {
      path: metadata.path,
      version: metadata.version,
      content_type: metadata.contentType,
      size_bytes: metadata.sizeBytes,
      checksum_sha256: metadata.checksumSha256 ?? sha256,
      properties: Object.fromEntries(metadata.properties ?? []),
    },
  };
}

/** A plugin's content type was checked as it came in (formats/plugin-results.ts); a core handler's is read from the upload. */
function isContentType(text: string): boolean {
  return text.length <= PLUGIN_RESULT_LIMITS.contentTypeLength && MEDIA_TYPE.test(text);
}

/**
 * What a handler can be given, uploads and /ext request bodies alike: the server's own limit,
 * or a 1.0.0 plugin's (what its memory can hold: formats/wasm-handler.ts) when that is lower.
 */
export function handlerLimit(handler: FormatHandler, server: BodyLimit): BodyLimit {
  if (handler.maxArtifactBytes === null || handler.maxArtifactBytes >= server.bytes) return server;
  return { bytes: handler.maxArtifactBytes, reason: handler.maxArtifactReason ?? `the ${handler.formatKey} handler takes artifacts up to ${handler.maxArtifactBytes} bytes` };
}

function view(row: ArtifactRow): ArtifactView {
  const { id: _id, repository_id: _repository, parsed_by: _parser, ...rest } = row;
  return rest;
}

const noArtifact = (repositoryKey: string, path: string) => notFound(`repository ${repositoryKey} has no artifact at ${path}`);

const exists = (repositoryKey: string, path: string) =>
  conflict('artifact_exists', `repository ${repositoryKey} already has an artifact at ${path}; artifacts are immutable unless uploaded with ?overwrite=true`);

const tooLarge = (limit: BodyLimit) => payloadTooLarge(`the artifact is larger than ${limit.bytes} bytes: ${limit.reason}`);
