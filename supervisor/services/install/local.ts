/**
 * A folder on the server's disk → the package, for operators who build plugins next to the
 * server. Only folders inside the configured roots (PLUGINS_LOCAL_ROOTS) may be read, and the
 * check is made on real paths, so a symbolic link cannot lead out of them. Nothing is copied
 * here: the package reader copies the bytes it validates, so later edits to the folder cannot
 * change what gets installed.
 */
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { ServiceError } from '../errors.js';
import type { FetchedTree } from './package.js';
import { isInside } from './paths.js';

export interface LocalOptions {
  /** Absolute folders local installs may read; empty disables local installs. */
  localRoots: string[];
}

const invalidPath = (message: string) => new ServiceError(400, 'invalid_local_path', message);
const notAllowed = (message: string) => new ServiceError(400, 'local_path_not_allowed', message);

export async function fetchFromLocal(request: { path: string }, options: LocalOptions): Promise<FetchedTree> {
  const given = request.path;
  if (typeof given !== 'string' || given === '') throw invalidPath('path must be the absolute path of a folder on the server');
  if (given.includes('\0')) throw invalidPath('path must not contain NUL characters');
  if (!path.isAbsolute(given)) throw invalidPath(`path must be absolute; "${given}" is relative`);
  if (options.localRoots.length === 0) {
    throw notAllowed('local installs are disabled on this server: no folder is listed in PLUGINS_LOCAL_ROOTS');
  }

  let real: string;
  try {
    real = await realpath(given);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw invalidPath(`"${given}" does not exist on the server`);
    if (code === 'EACCES') throw invalidPath(`the server may not read "${given}"`);
    throw error;
  }
  if (!(await stat(real)).isDirectory()) throw invalidPath(`"${given}" is not a directory`);

  const roots = await Promise.all(options.localRoots.map((root) => realpath(root).catch(() => null)));
  if (!roots.some((root) => root !== null && isInside(root, real))) {
    const through = real === path.resolve(given) ? '' : ` (it leads to "${real}")`;
    throw notAllowed(`"${given}"${through} is outside the folders local installs may read: ${options.localRoots.join(', ')}`);
  }
  return {
    root: real,
    source: { type: 'wasm_local', url: path.resolve(given), ref: null, resolvedCommit: null, path: null },
    cleanup: async () => {},
  };
}
