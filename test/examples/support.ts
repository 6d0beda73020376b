// Starts an example plugin the way the server does: its plugin.toml checked and its limits
// resolved by the installer's own code (with the server's default settings), the component
// built by cli/plugin-build.ts (cached by source hash in test/support/fixtures.ts),
// transpiled, run in its own sandboxed child process, and called over RPC.
import { expect } from 'chai';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Validate } from '../../protocol/methods.js';
import { loadConfig } from '../../supervisor/config.js';
import { ArtifactInvalid } from '../../supervisor/formats/errors.js';
import type { VersionPool } from '../../supervisor/runtime/pool.js';
import { PluginRuntime } from '../../supervisor/runtime/runtime.js';
import { checkManifest, resolveLimits } from '../../supervisor/services/install/manifest.js';
import { expectRejection } from '../support/assertions.js';
import { fixtureWasm, repoRoot } from '../support/fixtures.js';

export type ExampleName = 'unity-format' | 'pypi-simple' | 'wasm-module';

export interface RunningExample {
  pool: VersionPool;
  /** The component's size in bytes. */
  size: number;
  stop(): Promise<void>;
}

export async function startExample(name: ExampleName): Promise<RunningExample> {
  const checked = checkManifest(await readFile(path.join(repoRoot, 'examples', name, 'plugin.toml'), 'utf8'));
  expect(checked.problems, 'plugin.toml problems').to.deep.equal([]);
  expect(checked.warnings, 'plugin.toml warnings').to.deep.equal([]);
  const manifest = checked.manifest!;
  // Within the server's default caps, so that the example installs exactly as declared.
  const { plugins } = loadConfig({});
  const { limits, warnings } = resolveLimits(manifest, plugins.defaultLimits, plugins.maxLimits);
  expect(warnings, 'limits adjusted by the server').to.deep.equal([]);

  const wasm = await fixtureWasm(name);
  const dir = await mkdtemp(path.join(tmpdir(), `pk-example-${name}-`));
  const runtime = new PluginRuntime({ cacheDir: path.join(dir, 'cache') });
  const pool = await runtime.startVersion({
    version: '1.0.0',
    component: await runtime.prepare(wasm),
    cwd: dir,
    limits: { memoryMb: limits.memory_mb, timeoutMs: limits.timeout_secs * 1000, instances: limits.instances },
    // Starting fails unless format-key() answers the manifest's key.
    expectedFormatKey: manifest.format.key,
  });
  return {
    pool,
    size: wasm.byteLength,
    async stop() {
      await pool.drain();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Calls validate, which must refuse the artifact, and returns the plugin's message. */
export async function rejection(pool: VersionPool, artifactPath: string, data: Uint8Array): Promise<string> {
  const error = await expectRejection(pool.call(Validate, { path: artifactPath, data }), ArtifactInvalid);
  expect(error).to.have.property('code', 'artifact_invalid');
  return error.message;
}
