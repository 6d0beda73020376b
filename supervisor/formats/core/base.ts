/**
 * What every core format handler shares: the `core` type, parsing and validation always on,
 * no native protocol (native clients are served by plugins with `handle_request`), nothing to
 * drain. A format module only says whether it has an index and how it reads its artifacts.
 */
import { FormatUnavailable } from '../../runtime/errors.js';
import type { ArtifactMetadata, Capabilities, FormatHandler, HttpResponse, IndexFile } from '../handler.js';

export abstract class CoreFormatHandler implements FormatHandler {
  abstract readonly formatKey: string;
  readonly handlerType = 'core';
  readonly capabilities: Capabilities;
  readonly maxArtifactBytes = null;

  constructor(options: { generatesIndex: boolean }) {
    this.capabilities = {
      parse_metadata: true,
      validate_artifact: true,
      generate_index: options.generatesIndex,
      handle_request: false,
    };
  }

  abstract validate(path: string, data: Uint8Array): Promise<void>;
  abstract parseMetadata(path: string, data: Uint8Array): Promise<ArtifactMetadata>;
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
