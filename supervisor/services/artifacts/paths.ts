/**
 * Artifact and index paths: relative, `/`-separated, inside their repository. A path is
 * normalised (empty and `.` segments dropped) and refused when it could mean anything else
 * on some file system or client, by the rules install paths follow too
 * (../safe-relative-path.ts: `..` segments, a leading `/`, backslashes, control characters,
 * drive letters), or when it is longer than MAX_PATH_LENGTH.
 *
 * Paths are names in the store, never file names on disk (blobs are named by their hash),
 * so this is about what clients and handlers see, and about refusing what looks like an
 * escape attempt instead of quietly mapping it somewhere.
 */
import { ServiceError } from '../errors.js';
import { unsafeRelativePath } from '../safe-relative-path.js';

export const MAX_PATH_LENGTH = 1024;

/** The normalised path, or the reason it is refused. */
export function checkRelativePath(raw: string): { path: string } | { problem: string } {
  if (raw.length > MAX_PATH_LENGTH) return { problem: `it is longer than ${MAX_PATH_LENGTH} characters` };
  const unsafe = unsafeRelativePath(raw);
  if (unsafe) return { problem: unsafe };
  const kept = raw.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (kept.length === 0) return { problem: 'it names no file' };
  return { path: kept.join('/') };
}

/** `checkRelativePath` for a path a caller sent: 400 `invalid_path` naming the problem. */
export function normalizeArtifactPath(raw: string): string {
  const checked = checkRelativePath(raw);
  if ('path' in checked) return checked.path;
  const message = `invalid artifact path ${JSON.stringify(raw)}: ${checked.problem}`;
  throw new ServiceError(400, 'invalid_path', message, { validation_errors: [{ field: 'path', message }] });
}
