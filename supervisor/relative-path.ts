/**
 * Relative paths that name something inside a folder or a repository, from outside: a ZIP
 * entry, a manifest's `[plugin].wasm`, a git install's `path`, an artifact's or an index
 * file's path, whether a client or a plugin sent it. Below every layer, so that install,
 * the artifact services and the check of plugin results (formats/plugin-results.ts) share
 * one rule.
 */

/**
 * Why `relative` is not a safe relative path, or null when it is: checked on the text, with
 * the rules of every platform a path may come from (`/` separators only, no `..`, not
 * absolute, no drive letter, no control characters). For what comes from outside and names
 * something inside a folder or a repository: a ZIP entry, a manifest's `[plugin].wasm`, a
 * git install's `path`, an artifact's or an index file's path.
 */
export function unsafeRelativePath(relative: string): string | null {
  if (relative === '') return 'it is empty';
  if (/[\u0000-\u001f\u007f]/.test(relative)) return 'it contains a NUL or another control character';
  if (relative.includes('\\')) return 'it contains a backslash (use "/" as the separator)';
  if (/^[a-zA-Z]:/.test(relative)) return 'it starts with a drive letter';
  if (relative.startsWith('/')) return 'it is absolute';
  if (relative.split('/').includes('..')) return 'it contains a ".." segment';
  return null;
}

export const MAX_PATH_LENGTH = 1024;

/**
 * An artifact's or an index file's path, normalised (empty and `.` segments dropped), or the
 * reason it is refused: unsafe by `unsafeRelativePath`, naming no file, or longer than
 * MAX_PATH_LENGTH. These paths are names in the store, never file names on disk (blobs are
 * named by their hash): this is about what clients and handlers see, and about refusing
 * what looks like an escape attempt instead of quietly mapping it somewhere.
 */
export function checkRelativePath(raw: string): { path: string } | { problem: string } {
  if (raw.length > MAX_PATH_LENGTH) return { problem: `it is longer than ${MAX_PATH_LENGTH} characters` };
  const unsafe = unsafeRelativePath(raw);
  if (unsafe) return { problem: unsafe };
  const kept = raw.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (kept.length === 0) return { problem: 'it names no file' };
  return { path: kept.join('/') };
}
