/**
 * What every core format handler shares: the `core` type, parsing and validation always on,
 * no native protocol (native clients are served by plugins with `handle_request`), nothing to
 * drain. A format module only says whether it has an index and how it reads its artifacts.
 */
import { FormatUnavailable } from '../errors.js';
import { VERSION as SERVER_VERSION } from '../../version.js';
import { readAll } from '../artifact-source.js';
import type { CapabilitySet } from '../../store/store.js';
import type { ArtifactMetadata, ArtifactSource, FormatHandler, HttpResponse, IndexFile } from '../handler.js';

export abstract class CoreFormatHandler implements FormatHandler {
  abstract readonly formatKey: string;
  readonly handlerType = 'core';
  readonly capabilities: CapabilitySet;
  readonly maxArtifactBytes = null;
  readonly maxArtifactReason = null;

  get parserId(): string {
    return `core:${this.formatKey}@${SERVER_VERSION}`;
  }

  constructor(options: { generatesIndex: boolean }) {
    this.capabilities = {
      parse_metadata: true,
      validate_artifact: true,
      generate_index: options.generatesIndex,
      handle_request: false,
    };
  }

  /** Core handlers read the artifact whole for now (bounded by ARTIFACTS_MAX_MB); ranges come later. */
  async validate(path: string, artifact: ArtifactSource): Promise<void> {
    await this.validateBytes(path, await readAll(artifact));
  }

  async parseMetadata(path: string, artifact: ArtifactSource): Promise<ArtifactMetadata> {
    return this.parseBytes(path, await readAll(artifact));
  }

  protected abstract validateBytes(path: string, data: Uint8Array): Promise<void>;
  protected abstract parseBytes(path: string, data: Uint8Array): Promise<ArtifactMetadata>;
  /** Core indexes use relative links; the repository context is for the handlers that need absolute ones. */
  abstract generateIndex(artifacts: ArtifactMetadata[]): Promise<IndexFile[] | null>;

  async handleRequest(): Promise<HttpResponse> {
    throw new FormatUnavailable(`the ${this.formatKey} core format has no native protocol`);
  }

  async memoryUsedBytes(): Promise<null> {
    return null;
  }

  use<T>(work: () => Promise<T>): Promise<T> {
    return work();
  }

  async drain(): Promise<void> {}
}
