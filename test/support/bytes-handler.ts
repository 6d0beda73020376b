// Core handler tests give artifacts as bytes; handlers take an ArtifactSource.
import { bytesSource } from '../../supervisor/formats/artifact-source.js';
import type { ArtifactMetadata, FormatHandler } from '../../supervisor/formats/handler.js';

export type BytesHandler<H extends FormatHandler> = Omit<H, 'validate' | 'parseMetadata'> & {
  validate(path: string, data: Uint8Array): Promise<void>;
  parseMetadata(path: string, data: Uint8Array): Promise<ArtifactMetadata>;
};

/** `handler`, with validate and parse-metadata taking the artifact's bytes. */
export function withBytes<H extends FormatHandler>(handler: H): BytesHandler<H> {
  const wrapper = Object.create(handler) as BytesHandler<H>;
  wrapper.validate = (path, data) => handler.validate(path, bytesSource(data));
  wrapper.parseMetadata = (path, data) => handler.parseMetadata(path, bytesSource(data));
  return wrapper;
}
