/**
 * A plugin folder checked exactly as the server checks an install, with the server's own
 * code: the package reader (plugin.toml, where the component is, its signature), the limits
 * the server would give the plugin, and the runtime's component checks. `pack` runs it
 * before writing a ZIP, `test` before starting the plugin, so neither can accept what an
 * install would refuse.
 */
import { stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../../supervisor/config.js';
import { checkComponent } from '../../supervisor/runtime/component.js';
import { ServiceError, type ValidationProblem } from '../../supervisor/services/errors.js';
import { resolveLimits, type PluginPackage } from '../../supervisor/services/install/index.js';
import { readPackage } from '../../supervisor/services/install/package.js';
import type { ResourceLimits } from '../../supervisor/store/store.js';
import { CommandFailed } from '../command.js';

export interface CheckedPlugin {
  /** The validated copy of the package, in a temporary folder: call `pkg.cleanup()` when done. */
  pkg: PluginPackage;
  /** What the server would run it with: the manifest's asks, filled and capped by the settings. */
  limits: ResourceLimits;
  /** Unknown manifest keys, capped limits, unchecked signatures... */
  warnings: string[];
}

/**
 * The server settings the checks depend on: PLUGINS_REQUIRE_SIGNED and PLUGINS_TRUSTED_PUBKEY
 * (the signature), PLUGINS_DEFAULT_* and PLUGINS_MAX_* (the limits). Callers pass what
 * loadConfig() reads from the environment, so the checks are those of a server started there.
 */
export type ServerSettings = Pick<Config['plugins'], 'requireSigned' | 'trustedPublicKeys' | 'defaultLimits' | 'maxLimits'>;

const MiB = 1024 * 1024;
/** The author commands' scratch space: package copies, the transpile cache. */
export const AUTHOR_TEMP_DIR = path.join(os.tmpdir(), 'plugin-keeper-author');

/** Throws CommandFailed listing every problem, as the server's 422 would. */
export async function checkPluginFolder(dir: string, settings: ServerSettings): Promise<CheckedPlugin> {
  const root = path.resolve(dir);
  if (!(await stat(root).then((info) => info.isDirectory(), () => false))) {
    throw new CommandFailed(`${root} is not a folder`);
  }
  let pkg: PluginPackage;
  try {
    pkg = await readPackage(
      {
        root,
        source: { type: 'wasm_local', url: root, ref: null, resolvedCommit: null, path: null },
        cleanup: async () => {},
      },
      { workDir: AUTHOR_TEMP_DIR, requireSigned: settings.requireSigned, trustedPublicKeys: settings.trustedPublicKeys },
    );
  } catch (error) {
    if (!(error instanceof ServiceError)) throw error;
    const problems = (error.extra.validation_errors as ValidationProblem[] | undefined) ?? [];
    throw new CommandFailed(
      `the server would refuse ${root}`,
      problems.length > 0 ? problems.map((problem) => `${problem.field}: ${problem.message}`) : [error.message],
    );
  }
  try {
    const { limits, warnings } = resolveLimits(pkg.manifest, settings.defaultLimits, settings.maxLimits);
    const problems = await checkComponent(pkg.wasm, {
      memoryLimitBytes: limits.memory_mb * MiB,
      requireRequestHandler: pkg.manifest.capabilities.handle_request,
    });
    if (problems.length > 0) {
      throw new CommandFailed(`the server would refuse ${pkg.wasmPath}: it is not a usable format handler`, problems);
    }
    return { pkg, limits, warnings: [...pkg.warnings, ...warnings] };
  } catch (error) {
    await pkg.cleanup();
    throw error;
  }
}
