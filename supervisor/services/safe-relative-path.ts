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
