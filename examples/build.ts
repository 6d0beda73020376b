/**
 * Builds every example plugin under examples/ into an installable ZIP (plugin.toml +
 * plugin.wasm) in `<DATA_DIR>/examples/`, so that a new user can install one right after
 * `npm start`.
 *
 * An example is a folder with a plugin.toml, built by cli/plugin-build.ts exactly as
 * `plugin-keeper build` builds any plugin: TypeScript from src/index.ts, or the folder's
 * own build.mjs for another language (examples/wasm-module, AssemblyScript). It is
 * rebuilt only when its sources or the WIT changed: a SHA-256 of them is kept beside the
 * ZIP.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yazl from 'yazl';
import { BUILD_PIPELINE_VERSION, buildPluginComponent, pluginSources } from '../cli/plugin-build.js';
import { loadConfig } from '../supervisor/config.js';

const examplesDir = path.resolve(fileURLToPath(new URL('../../examples', import.meta.url)));
const witFile = path.resolve(examplesDir, '../wit/format-plugin.wit');

async function buildExample(name: string, outDir: string): Promise<void> {
  const dir = path.join(examplesDir, name);
  const hash = createHash('sha256').update(`pipeline ${BUILD_PIPELINE_VERSION}\0`).update(await readFile(witFile));
  for (const file of await pluginSources(dir)) hash.update(`${file}\0`).update(await readFile(path.join(dir, file)));
  const digest = hash.digest('hex');
  const zipPath = path.join(outDir, `${name}.zip`);
  const digestPath = `${zipPath}.sha256`;
  if ((await readFile(digestPath, 'utf8').catch(() => '')) === digest) return;

  process.stderr.write(`building example ${name}...\n`);
  const built = await buildPluginComponent(dir, { onProgress: (message) => process.stderr.write(`  ${message}\n`) });

  const zip = new yazl.ZipFile();
  zip.addFile(path.join(dir, 'plugin.toml'), 'plugin.toml');
  zip.addFile(built.wasmPath, 'plugin.wasm');
  zip.end();
  const temporary = `${zipPath}.${process.pid}.tmp`;
  await new Promise<void>((resolve, reject) => {
    zip.outputStream.pipe(createWriteStream(temporary)).on('close', resolve).on('error', reject);
  });
  await rename(temporary, zipPath);
  await writeFile(digestPath, digest);
  process.stderr.write(`  ${zipPath}\n`);
}

async function isExample(name: string): Promise<boolean> {
  return stat(path.join(examplesDir, name, 'plugin.toml')).then(
    (file) => file.isFile(),
    () => false,
  );
}

const outDir = path.join(loadConfig().dataDir, 'examples');
await mkdir(outDir, { recursive: true });
for (const entry of await readdir(examplesDir, { withFileTypes: true })) {
  if (entry.isDirectory() && (await isExample(entry.name))) await buildExample(entry.name, outDir);
}
