/**
 * Builds every example plugin under examples/ into an installable ZIP (plugin.toml +
 * plugin.wasm) in `<DATA_DIR>/examples/`, so that a new user can install one right after
 * `npm start`. An example is rebuilt only when its sources changed (a SHA-256 of its files
 * is kept beside the ZIP).
 *
 * An example is a folder with plugin.toml and handler.js (JavaScript, built with
 * componentize-js; the world follows `[capabilities] handle_request`).
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'smol-toml';
import yazl from 'yazl';
import { componentizeJs } from '../cli/component-build.js';
import { loadConfig } from '../supervisor/config.js';

const examplesDir = path.resolve(fileURLToPath(new URL('../../examples', import.meta.url)));
const witFile = path.resolve(examplesDir, '../wit/format-plugin.wit');

async function buildExample(name: string, outDir: string): Promise<void> {
  const dir = path.join(examplesDir, name);
  const names = (await readdir(dir)).filter((file) => file === 'plugin.toml' || file.endsWith('.js')).sort();
  const wit = await readFile(witFile, 'utf8');
  const hash = createHash('sha256').update(wit);
  for (const file of names) hash.update(`${file}\0`).update(await readFile(path.join(dir, file)));
  const digest = hash.digest('hex');
  const zipPath = path.join(outDir, `${name}.zip`);
  const digestPath = `${zipPath}.sha256`;
  if ((await readFile(digestPath, 'utf8').catch(() => '')) === digest) return;

  const manifestText = await readFile(path.join(dir, 'plugin.toml'), 'utf8');
  const capabilities = (parse(manifestText).capabilities ?? {}) as { handle_request?: boolean };
  const world = capabilities.handle_request ? 'format-plugin-v2' : 'format-plugin';
  process.stderr.write(`building example ${name} (componentize-js, ${world})...\n`);
  const started = Date.now();
  const wasm = await componentizeJs(path.join(dir, 'handler.js'), wit, world);

  const zip = new yazl.ZipFile();
  zip.addBuffer(Buffer.from(manifestText), 'plugin.toml');
  zip.addBuffer(Buffer.from(wasm), 'plugin.wasm');
  zip.end();
  const temporary = `${zipPath}.${process.pid}.tmp`;
  await new Promise<void>((resolve, reject) => {
    zip.outputStream.pipe(createWriteStream(temporary)).on('close', resolve).on('error', reject);
  });
  await rename(temporary, zipPath);
  await writeFile(digestPath, digest);
  process.stderr.write(`  ${zipPath} (${wasm.byteLength} byte component, ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}

const outDir = path.join(loadConfig().dataDir, 'examples');
await mkdir(outDir, { recursive: true });
const entries = await readdir(examplesDir, { withFileTypes: true });
for (const entry of entries) {
  if (entry.isDirectory()) await buildExample(entry.name, outDir);
}
