/**
 * Folders for the install sources: paths resolved from outside must stay inside the folder
 * they are resolved against (checked on the text first, by ../../relative-path.ts), and
 * every install works in its own temporary folder.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';

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
