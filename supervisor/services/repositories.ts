/**
 * Repositories: named collections of artifacts of one format. Creating one needs a format
 * handler row for its format (400 otherwise) that is enabled (409 `format_disabled`);
 * afterwards a repository outlives its format's handler (a plugin uninstalled with
 * force=true), and stays readable.
 *
 * Also the `DependentRepositories` of uninstall's dependency check and of the formats'
 * `repository_count`.
 */
import { randomUUID } from 'node:crypto';
import type { BlobLeases } from '../blobs/leases.js';
import { UniqueViolation, type Store } from '../store/store.js';
import type { NewRepositoryInput, RepositoryService, RepositoryView } from './contracts.js';
import { badRequest, conflict, notFound } from './errors.js';
import type { DependentRepositories } from './lifecycle.js';

/** A repository key: lowercase letters, digits, `.`, `_`, `-`; starts with a letter or digit; 1..64 characters. */
export const REPOSITORY_KEY = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export class RepositoryCatalog implements RepositoryService, DependentRepositories {
  constructor(
    private readonly store: Store,
    private readonly leases: BlobLeases,
  ) {}

  forFormat(formatKey: string): Promise<Array<{ id: string; key: string }>> {
    return this.store.repositoriesForFormat(formatKey);
  }

  async create(input: NewRepositoryInput): Promise<RepositoryView> {
    if (!REPOSITORY_KEY.test(input.key)) {
      const message = `field "key" must match ${REPOSITORY_KEY.source} (lowercase letters, digits, ".", "_", "-"; at most 64 characters), got ${JSON.stringify(input.key)}`;
      throw badRequest(message, { validation_errors: [{ field: 'key', message }] });
    }
    const handler = await this.store.getFormatHandler(input.format);
    if (!handler) {
      const message = `field "format": no format handler has the key ${JSON.stringify(input.format)} (see GET /api/v1/formats)`;
      throw badRequest(message, { validation_errors: [{ field: 'format', message }] });
    }
    if (!handler.is_enabled) {
      throw conflict('format_disabled', `format ${input.format} is disabled: enable it before creating repositories of it`);
    }
    try {
      return await this.store.insertRepository({
        id: randomUUID(),
        key: input.key,
        format: input.format,
        description: input.description ?? null,
        public: input.public ?? false,
      });
    } catch (error) {
      if (error instanceof UniqueViolation && error.column === 'key') {
        throw conflict('repository_exists', `a repository with the key ${input.key} exists already`);
      }
      throw error;
    }
  }

  async list(query: { format?: string }): Promise<{ items: RepositoryView[]; total: number }> {
    const items = await this.store.listRepositories(query);
    // An unknown filter value is a 400; a format whose handler is gone but which repositories still use is known.
    if (query.format !== undefined && items.length === 0 && !(await this.store.getFormatHandler(query.format))) {
      const message = `query parameter "format": no format handler has the key ${JSON.stringify(query.format)}`;
      throw badRequest(message, { validation_errors: [{ field: 'format', message }] });
    }
    return { items, total: items.length };
  }

  async get(key: string): Promise<RepositoryView> {
    const row = await this.store.getRepository(key);
    if (!row) throw repositoryNotFound(key);
    return row;
  }

  /** Its artifacts and index files go with it (the rows by cascade), and the blobs nothing else names. */
  async delete(key: string): Promise<void> {
    const repository = await this.store.getRepository(key);
    if (!repository) throw repositoryNotFound(key);
    const blobs = await this.store.repositoryBlobs(repository.id);
    if (!(await this.store.deleteRepository(key))) throw repositoryNotFound(key);
    for (const sha256 of blobs) await this.leases.removeIfUnused(sha256);
  }
}

export const repositoryNotFound = (key: string) => notFound(`no repository has the key ${JSON.stringify(key)}`);
