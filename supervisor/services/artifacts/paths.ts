/**
 * Artifact and index paths: relative, `/`-separated, inside their repository. A path is
 * normalised (empty and `.` segments dropped) and refused when it could mean anything else
 * on some file system or client: `..` segments, a leading `/` (absolute), backslashes (a
 * separator on Windows), NUL and other control characters, a drive letter.
 *
 * Paths are names in the store, never file names on disk (blobs are named by their hash),
 * so this is about what clients and handlers see, and about refusing what looks like an
 * escape attempt instead of quietly mapping it somewhere.
 */
import { ServiceError } from '../errors.js';

export const MAX_PATH_LENGTH = 1024;

/** The normalised path, or the reason it is refused. */
export function checkRelativePath(raw: string): { path: string } | { problem: string } {
  if (raw.length === 0) return { problem: 'the path is empty' };
  if (raw.length > MAX_PATH_LENGTH) return { problem: `the path is longer than ${MAX_PATH_LENGTH} characters` };
  if (/[\u0000-\u001f\u007f]/.test(raw)) return { problem: 'the path contains a NUL or another control character' };
  if (raw.includes('\\')) return { problem: 'the path contains a backslash; separate folders with "/"' };
  if (raw.startsWith('/')) return { problem: 'the path is absolute; give it relative to the repository' };
  if (/^[A-Za-z]:/.test(raw)) return { problem: 'the path starts with a drive letter' };
  const segments = raw.split('/');
  if (segments.includes('..')) return { problem: 'the path contains a ".." segment' };
  const kept = segments.filter((segment) => segment !== '' && segment !== '.');
  if (kept.length === 0) return { problem: 'the path names no file' };
  return { path: kept.join('/') };
}

/** `checkRelativePath` for a path a caller sent: 400 `invalid_path` naming the problem. */
export function normalizeArtifactPath(raw: string): string {
  const checked = checkRelativePath(raw);
  if ('path' in checked) return checked.path;
  const message = `invalid artifact path ${JSON.stringify(raw)}: ${checked.problem}`;
  throw new ServiceError(400, 'invalid_path', message, { validation_errors: [{ field: 'path', message }] });
}
