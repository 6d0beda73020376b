// Test fixtures: real WebAssembly components built at test time from the sources under
// test/fixtures and the example plugins under examples/ (no binaries are committed). Built
// files are cached under .cache/fixtures, keyed by a hash of everything that goes into them,
// so only the first run after a change pays for a build (a TypeScript plugin takes tens of
// seconds).
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { watToComponent, watToCore } from '../../cli/component-build.js';
import { BUILD_PIPELINE_VERSION, buildPluginComponent, pluginSources } from '../../cli/plugin-build.js';

export type FixtureName =
  | 'good'
  | 'good-v2'
  | 'good-pypi'
  | 'loop'
  | 'memory-bomb'
  | 'chunked-grow'
  | 'table-bomb'
  | 'trap'
  | 'huge-result'
  | 'wrong-key'
  | 'missing-export'
  | 'core-module'
  | 'big-initial-memory'
  | 'js-handler'
  | 'unity-format'
  | 'pypi-simple'
  | 'wasm-module'
  | 'puppet'
  | 'stream'
  | 'stream-http'
  | 'careless';

/** Absolute path of the repository root (this file runs as dist/test/support/fixtures.js). */
export const repoRoot: string = path.resolve(fileURLToPath(new URL('../../..', import.meta.url)));

/**
 * Bump whenever the build steps here change, so that older cached builds are not reused
 * (plugin folders also follow cli/plugin-build.ts's BUILD_PIPELINE_VERSION).
 */
const BUILDER_VERSION = '2';

const CACHE_DIR = path.join(repoRoot, '.cache', 'fixtures');
const PLUGIN_WIT = 'wit/format-plugin.wit';
const PLUGIN_WIT_1_1 = 'wit/format-plugin-1.1.wit';

/** How a fixture is made; every path is relative to the repository root. */
type Recipe =
  /**
   * A hand-written core module with the WIT world embedded, wrapped into a component;
   * `formatKey` replaces good.wat's "demo" key (same length: the WAT hard-codes it).
   */
  | { kind: 'wat-component'; wat: string; wit: string; world: string; formatKey?: string }
  /** The bare core module, not a component. */
  | { kind: 'core-module'; wat: string }
  /** A plugin folder built by cli/plugin-build.ts, the pipeline plugin authors use. */
  | { kind: 'plugin'; dir: string; wit: string };

function handlerWat(file: string, world = 'format-plugin'): Recipe {
  return { kind: 'wat-component', wat: `test/fixtures/${file}`, wit: PLUGIN_WIT, world };
}

/** `wit` is hashed with the sources: the pipeline reads the project's WIT itself. */
function examplePlugin(name: string): Recipe {
  return { kind: 'plugin', dir: `examples/${name}`, wit: PLUGIN_WIT };
}

const RECIPES: Record<FixtureName, Recipe> = {
  good: handlerWat('good.wat'),
  'good-v2': handlerWat('good-v2.wat', 'format-plugin-v2'),
  // `good` serving a core key, as a plugin replacing the core pypi handler does.
  'good-pypi': { kind: 'wat-component', wat: 'test/fixtures/good.wat', wit: PLUGIN_WIT, world: 'format-plugin', formatKey: 'pypi' },
  loop: handlerWat('loop.wat'),
  'memory-bomb': handlerWat('memory-bomb.wat'),
  'chunked-grow': handlerWat('chunked-grow.wat'),
  'table-bomb': handlerWat('table-bomb.wat'),
  trap: handlerWat('trap.wat'),
  'huge-result': handlerWat('huge-result.wat'),
  'wrong-key': handlerWat('wrong-key.wat'),
  'missing-export': {
    kind: 'wat-component',
    wat: 'test/fixtures/missing-export.wat',
    wit: 'test/fixtures/missing-export.wit',
    world: 'w',
  },
  // The mistake a plugin author makes when shipping the compiler's output without
  // componentizing it: a working handler module that is not a component.
  'core-module': { kind: 'core-module', wat: 'test/fixtures/good.wat' },
  'big-initial-memory': handlerWat('big-initial-memory.wat'),
  // The json-pkg example plugin (TypeScript, world format-plugin-v2) doubles as the
  // realistic JavaScript fixture.
  'js-handler': examplePlugin('json-pkg'),
  'unity-format': examplePlugin('unity-format'),
  'pypi-simple': examplePlugin('pypi-simple'),
  'wasm-module': examplePlugin('wasm-module'),
  // Returns whatever the test tells it to: results out of bounds (test/fixtures/puppet).
  puppet: { kind: 'plugin', dir: 'test/fixtures/puppet', wit: PLUGIN_WIT },
  // A new author's bug (a missing null check) and console output (test/fixtures/careless).
  careless: { kind: 'plugin', dir: 'test/fixtures/careless', wit: PLUGIN_WIT },
  // 1.1.0: reads its artifact through the host's resource; misbehaves on request (stream.wat).
  stream: { kind: 'wat-component', wat: 'test/fixtures/stream.wat', wit: PLUGIN_WIT_1_1, world: 'format-plugin-v3' },
  'stream-http': { kind: 'wat-component', wat: 'test/fixtures/stream.wat', wit: PLUGIN_WIT_1_1, world: 'format-plugin-v3-http' },
};

const builds = new Map<FixtureName, Promise<string>>();

/**
 * Path of the fixture's cached `.wasm`, building it first if needed. Calls for the same
 * fixture share one build.
 */
export function fixturePath(name: FixtureName): Promise<string> {
  let build = builds.get(name);
  if (build === undefined) {
    build = buildCached(name);
    builds.set(name, build);
    // Let a later call try again rather than repeat a failure for the rest of the process.
    build.catch(() => builds.delete(name));
  }
  return build;
}

/** The fixture's bytes: a component, or a core module for `core-module`. */
export async function fixtureWasm(name: FixtureName): Promise<Uint8Array<ArrayBuffer>> {
  // A plain ArrayBuffer-backed copy, which WebAssembly.compile's typings accept.
  return new Uint8Array(await readFile(await fixturePath(name)));
}

async function buildCached(name: FixtureName): Promise<string> {
  const recipe = RECIPES[name];
  const inputs = await readInputs(recipe);
  const file = path.join(CACHE_DIR, `${name}-${cacheKey(recipe, inputs)}.wasm`);
  if (await exists(file)) return file;

  const wasm = await build(recipe, inputs);
  await mkdir(CACHE_DIR, { recursive: true });
  // Readers in other processes (tests, benchmarks) never see a partly written file.
  const temporary = `${file}.${process.pid}-${randomUUID()}.tmp`;
  await writeFile(temporary, wasm);
  await rename(temporary, file);
  await removeOtherBuilds(name, file);
  return file;
}

/** Every file the build reads, by repository-relative path. */
async function readInputs(recipe: Recipe): Promise<Map<string, Buffer>> {
  let files: string[];
  switch (recipe.kind) {
    case 'wat-component':
      files = [recipe.wat, recipe.wit];
      break;
    case 'core-module':
      files = [recipe.wat];
      break;
    case 'plugin':
      files = (await pluginSources(path.join(repoRoot, recipe.dir))).map((file) => path.join(recipe.dir, file)).concat(recipe.wit);
      break;
  }
  files.sort();
  const contents = await Promise.all(files.map((file) => readFile(path.join(repoRoot, file))));
  return new Map(files.map((file, index) => [file, contents[index]!]));
}

function cacheKey(recipe: Recipe, inputs: Map<string, Buffer>): string {
  const hash = createHash('sha256');
  hash.update(`builder ${BUILDER_VERSION}\0${JSON.stringify(recipe)}\0`);
  if (recipe.kind === 'plugin') hash.update(`pipeline ${BUILD_PIPELINE_VERSION}\0`);
  for (const [file, contents] of inputs) {
    hash.update(`${file}\0${contents.length}\0`);
    hash.update(contents);
  }
  return hash.digest('hex');
}

async function build(recipe: Recipe, inputs: Map<string, Buffer>): Promise<Uint8Array> {
  const text = (file: string) => inputs.get(file)!.toString('utf8');
  switch (recipe.kind) {
    case 'core-module':
      return watToCore(recipe.wat, text(recipe.wat));
    case 'wat-component': {
      if (recipe.formatKey !== undefined && recipe.formatKey.length !== 'demo'.length) throw new Error(`format key ${recipe.formatKey} is not 4 characters long`);
      const key = '(data (i32.const 16) "demo")';
      const wat = recipe.formatKey === undefined ? text(recipe.wat) : text(recipe.wat).replace(key, key.replace('demo', recipe.formatKey));
      return watToComponent(recipe.wat, wat, text(recipe.wit), recipe.world);
    }
    case 'plugin':
      return readFile((await buildPluginComponent(path.join(repoRoot, recipe.dir))).wasmPath);
  }
}

/** Deletes builds of the fixture from older sources, which nothing will read again. */
async function removeOtherBuilds(name: FixtureName, current: string): Promise<void> {
  const ownBuild = new RegExp(`^${name}-[0-9a-f]{64}\\.wasm$`);
  for (const entry of await readdir(CACHE_DIR)) {
    if (ownBuild.test(entry) && entry !== path.basename(current)) {
      // `force`: another process may be removing the same file.
      await rm(path.join(CACHE_DIR, entry), { force: true });
    }
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
