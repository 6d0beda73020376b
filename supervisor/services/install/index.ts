/**
 * The "fetch and validate" half of installs: a plugin package from a Git repository, a ZIP
 * upload or a local folder, validated and copied into a temporary folder of its own. No
 * database, no processes: the lifecycle service decides what to do with the package (and
 * runs the component checks of supervisor/runtime/component.ts on `wasm`).
 */
import { fetchFromGit, type GitOptions, type GitRequest } from './git.js';
import { fetchFromLocal, type LocalOptions } from './local.js';
import { type FetchedTree, type PluginPackage, type ReadOptions, readPackage } from './package.js';
import { fetchFromZip, type ZipOptions } from './zip.js';

export type { DnsLookup } from './git-url.js';
export type { PluginManifest } from './manifest.js';
export { resolveLimits } from './manifest.js';
export type { PackageSource, PluginPackage } from './package.js';
export { generateKeyPair, sign } from './signature.js';

export type PackageRequest =
  | ({ kind: 'git' } & GitRequest)
  /** `file`: the path of the uploaded ZIP on the server's disk. */
  | { kind: 'zip'; file: string }
  | { kind: 'local'; path: string };

/** `workDir` is the temporary root (under DATA_DIR) every fetch and package folder is made in. */
export interface FetchOptions extends GitOptions, ZipOptions, LocalOptions, ReadOptions {}

/**
 * Fetches the package and validates it: one 422 `plugin_validation_failed` lists every
 * problem of the manifest, the component's location and the signature. Whatever fails,
 * nothing fetched is left on disk; on success the caller owns the package's `cleanup()`.
 */
export async function fetchPackage(request: PackageRequest, options: FetchOptions): Promise<PluginPackage> {
  const tree = await fetchTree(request, options);
  try {
    return await readPackage(tree, options);
  } finally {
    // The package holds its own copy of what was validated; the fetched tree has served.
    await tree.cleanup();
  }
}

function fetchTree(request: PackageRequest, options: FetchOptions): Promise<FetchedTree> {
  switch (request.kind) {
    case 'git':
      return fetchFromGit(request, options);
    case 'zip':
      return fetchFromZip(request.file, options);
    case 'local':
      return fetchFromLocal(request, options);
  }
}
