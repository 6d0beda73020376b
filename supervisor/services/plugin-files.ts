/**
 * Where a plugin's files live under DATA_DIR, and how a version folder is (re)made.
 *
 *   <dataDir>/plugins/<id>/<version>-<sha>/    the package as validated (plugin.toml, wasm...);
 *                                              <sha>: the component's SHA-256, first 12 digits
 *   <dataDir>/cache/components/<sha256>/       transpiled components (runtime/component.ts)
 *   <dataDir>/tmp/                             fetches and uploads in progress
 *
 * The store keeps every version's component too, so a supervisor that never saw the
 * install (another machine sharing the PostgreSQL) can rebuild the folder from it.
 */
import { chmod, cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export class PluginFiles {
  constructor(private readonly dataDir: string) {}

  get componentCache(): string {
    return path.join(this.dataDir, 'cache', 'components');
  }

  get workDir(): string {
    return path.join(this.dataDir, 'tmp');
  }

  /**
   * One folder per version *and* component: reloading the same version number with another
   * component writes a new folder, so a refused reload never overwrites the serving one.
   */
  versionDir(pluginId: string, version: string, sha256: string): string {
    return path.join(this.dataDir, 'plugins', pluginId, `${version}-${sha256.slice(0, 12)}`);
  }

  async prepare(): Promise<void> {
    await mkdir(this.workDir, { recursive: true });
    await mkdir(this.componentCache, { recursive: true });
  }

  /** Copies a validated package folder into the version's folder, replacing what was there. */
  async storeVersion(pluginId: string, version: string, sha256: string, packageDir: string): Promise<string> {
    const dir = this.versionDir(pluginId, version, sha256);
    await rm(dir, { recursive: true, force: true });
    await mkdir(path.dirname(dir), { recursive: true });
    await cp(packageDir, dir, { recursive: true });
    // cp keeps the source's modes, and a local install's files are the operator's (often 0644).
    await makePrivate(dir);
    return dir;
  }

  /** Makes sure the version folder exists (it is the child's working directory). */
  async ensureVersion(pluginId: string, version: string, sha256: string, wasm: () => Promise<Uint8Array>): Promise<string> {
    const dir = this.versionDir(pluginId, version, sha256);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'plugin.wasm'), await wasm(), { flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    return dir;
  }

  async removeVersion(pluginId: string, version: string, sha256: string): Promise<void> {
    await rm(this.versionDir(pluginId, version, sha256), { recursive: true, force: true });
  }

  /** The plugins that have a folder here. */
  async pluginIds(): Promise<string[]> {
    return readdir(path.join(this.dataDir, 'plugins')).catch(() => []);
  }

  async removePlugin(pluginId: string): Promise<void> {
    await rm(path.join(this.dataDir, 'plugins', pluginId), { recursive: true, force: true });
  }
}

/** Owner-only modes for a copied tree: folders 0700, files 0600. */
async function makePrivate(dir: string): Promise<void> {
  await chmod(dir, 0o700);
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const entryPath = path.join(entry.parentPath, entry.name);
    if (entry.isDirectory()) await chmod(entryPath, 0o700);
    else if (entry.isFile()) await chmod(entryPath, 0o600);
  }
}
