/**
 * Path safety shared by the install sources: relative paths that come from outside (a ZIP
 * entry, a manifest's `[plugin].wasm`, a git install's `path`) must stay inside the folder
 * they are resolved against, and every install works in its own temporary folder.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Why `relative` is not a safe relative path inside a package, or null when it is. Checked
 * on the text, before anything touches the disk, with the rules of every platform a package
 * may have been made on: `/` separators only, no `..`, not absolute, no drive letter.
 */
export function unsafeRelativePath(relative: string): string | null {
  if (relative === '') return 'it is empty';
  if (/[\u0000-\u001f\u007f]/.test(relative)) return 'it contains control characters';
  if (relative.includes('\\')) return 'it contains a backslash (use "/" as the separator)';
  if (/^[a-zA-Z]:/.test(relative)) return 'it starts with a drive letter';
  if (relative.startsWith('/')) return 'it is absolute';
  if (relative.split('/').includes('..')) return 'it contains a ".." segment';
  return null;
}

/** Whether `child` is `parent` or lies below it; both must be absolute and normalized. */
export function isInside(parent: string, child: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (!relative.startsWith(`..${path.sep}`) && relative !== '..' && !path.isAbsolute(relative));
}

/** A fresh folder under `workDir` (created when missing), owned by one install. */
export async function makeTempDir(workDir: string, prefix: string): Promise<string> {
  await mkdir(workDir, { recursive: true });
  return mkdtemp(path.join(workDir, `${prefix}-`));
}

/** Removes a temporary folder; removing one that is already gone is not an error. */
export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true, maxRetries: 3 });
}
