/**
 * The `generic` core format: any bytes are an artifact. The version is taken from the path
 * when the path carries one (`tool/1.4.2/tool.tar.gz` or `tool-1.4.2.tar.gz`), the content
 * type from the file extension. Generic repositories have no index.
 */
import path from 'node:path';
import { CoreFormatHandler } from './base.js';
import type { ArtifactMetadata } from '../handler.js';
import { ArtifactInvalid } from '../errors.js';

const SEMVER_LIKE = /^v?\d+(\.\d+){0,3}([-+][0-9A-Za-z.-]+)?$/;
/** `name-1.2.3.ext`: a version at the end of the file name, before its extensions. */
const VERSION_IN_NAME = /-(v?\d+(?:\.\d+){1,3}(?:[-+][0-9A-Za-z.-]+)?)(?:\.[A-Za-z][A-Za-z0-9]*)*$/;

const CONTENT_TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.xml': 'application/xml',
  '.txt': 'text/plain',
  '.zip': 'application/zip',
  '.jar': 'application/java-archive',
  '.gz': 'application/gzip',
  '.tgz': 'application/gzip',
  '.tar': 'application/x-tar',
  '.pdf': 'application/pdf',
  '.png': 'image/png',
};

export class GenericFormatHandler extends CoreFormatHandler {
  readonly formatKey = 'generic';

  constructor() {
    super({ generatesIndex: false });
  }

  protected async validateBytes(artifactPath: string): Promise<void> {
    if (artifactPath === '' || artifactPath.endsWith('/')) throw new ArtifactInvalid('a generic artifact needs a file name');
  }

  protected async parseBytes(artifactPath: string, data: Uint8Array): Promise<ArtifactMetadata> {
    return {
      path: artifactPath,
      version: versionFromPath(artifactPath),
      contentType: CONTENT_TYPES[path.posix.extname(artifactPath).toLowerCase()] ?? 'application/octet-stream',
      sizeBytes: data.byteLength,
      checksumSha256: null,
    };
  }

  async generateIndex(): Promise<null> {
    return null;
  }
}

export function versionFromPath(artifactPath: string): string | null {
  const segments = artifactPath.split('/').filter(Boolean);
  const folder = segments.slice(0, -1).reverse().find((segment) => SEMVER_LIKE.test(segment));
  if (folder) return folder;
  return VERSION_IN_NAME.exec(segments.at(-1) ?? '')?.[1] ?? null;
}
