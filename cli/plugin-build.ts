/**
 * The one build pipeline for plugins: a plugin folder in, `<dir>/plugin.wasm` out. Used by
 * `plugin-keeper build`, examples/build.ts and the tests of the examples.
 *
 * A plugin folder holds `plugin.toml` and its sources. The WIT world follows the manifest:
 * `format-plugin-v2` when `[capabilities] handle_request = true`, else `format-plugin`.
 *
 * - TypeScript (the default): `src/index.ts` exports `handler` (and `requestHandler` for v2).
 *   The build writes the world's guest types, generated from the WIT, to `types/` (for the
 *   author's editor and the type check; never edit them), type-checks the folder with its
 *   own `tsconfig.json` when there is one, bundles `src/index.ts` with esbuild into one ES
 *   module and turns that into a component with componentize-js, stdio on (console.log and
 *   console.error go to the plugin's log). The bundle's entry wraps every export: an error
 *   the plugin did not mean as its `err` result is reported to the host (plugin-host/
 *   uncaught.ts) before it traps the component, and the bundle's source map goes into the
 *   component (protocol/source-map-section.ts) so that the host can tell its stack in the
 *   author's TypeScript lines.
 * - Any other language: a `build.mjs` in the folder takes over the compile step. It exports
 *   `buildComponent({ dir, wit, world, onProgress })` returning the component's bytes (see
 *   `CustomBuild`); this pipeline still reads the manifest, picks the world and writes
 *   `plugin.wasm`. The AssemblyScript example (examples/wasm-module) builds this way.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse as parseToml } from 'smol-toml';
import { generateWitTypes, type PluginWorld } from './author/wit-types.js';
import { appendSourceMap } from '../protocol/source-map-section.js';
import { GUARD_SOURCE, UNCAUGHT_MARKER } from '../plugin-host/uncaught.js';
import { componentizeJs } from './component-build.js';

/**
 * Changes whenever the same sources build into a different component (now: stdio on,
 * exports wrapped, source map inside), so that callers caching builds by their sources rebuild.
 */
export const BUILD_PIPELINE_VERSION = 3;

export interface BuildOptions {
  onProgress?: (message: string) => void;
}

export interface BuildResult {
  /** Absolute path of the written component, `<dir>/plugin.wasm`. */
  wasmPath: string;
  bytes: number;
  world: string;
  ms: number;
}

/** What a plugin folder's own `build.mjs` exports to replace the TypeScript compile step. */
export interface CustomBuild {
  buildComponent(input: {
    /** The plugin folder, absolute. */
    dir: string;
    /** The text of wit/format-plugin.wit (wasm-tools cannot read WIT from a file path here). */
    wit: string;
    world: string;
    onProgress: (message: string) => void;
  }): Promise<Uint8Array>;
}

/** The project's WIT, resolved from this module (dist/cli/plugin-build.js). */
const WIT_FILE = fileURLToPath(new URL('../../wit/format-plugin.wit', import.meta.url));
const CUSTOM_BUILD_SCRIPT = 'build.mjs';
const TYPESCRIPT_ENTRY = path.join('src', 'index.ts');
const TYPES_DIR = 'types';
const WASM_FILE = 'plugin.wasm';

export async function buildPluginComponent(dir: string, options: BuildOptions = {}): Promise<BuildResult> {
  const started = performance.now();
  const progress = options.onProgress ?? (() => {});
  const pluginDir = path.resolve(dir);
  const world = await worldOf(pluginDir);
  const wit = await readFile(WIT_FILE, 'utf8');

  let wasm: Uint8Array;
  if (await isFile(path.join(pluginDir, CUSTOM_BUILD_SCRIPT))) {
    progress(`building with ${CUSTOM_BUILD_SCRIPT} (${world})`);
    const script = (await import(pathToFileURL(path.join(pluginDir, CUSTOM_BUILD_SCRIPT)).href)) as Partial<CustomBuild>;
    if (typeof script.buildComponent !== 'function') {
      throw new Error(`${CUSTOM_BUILD_SCRIPT} in ${pluginDir} must export an async function buildComponent`);
    }
    wasm = await script.buildComponent({ dir: pluginDir, wit, world, onProgress: progress });
  } else {
    wasm = await buildTypeScript(pluginDir, wit, world, progress);
  }

  const wasmPath = path.join(pluginDir, WASM_FILE);
  // A reader (an install, a test's cache) never sees a partly written component.
  const temporary = `${wasmPath}.${process.pid}-${randomUUID()}.tmp`;
  await writeFile(temporary, wasm);
  await rename(temporary, wasmPath);
  const ms = Math.round(performance.now() - started);
  progress(`wrote ${wasmPath} (${wasm.byteLength} bytes, ${(ms / 1000).toFixed(1)} s)`);
  return { wasmPath, bytes: wasm.byteLength, world, ms };
}

/**
 * The files of a plugin folder that a build reads, relative to it and sorted: everything but
 * what the build writes (plugin.wasm, types/) and installed dependencies (node_modules/).
 * For callers that rebuild only when these changed.
 */
export async function pluginSources(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .filter((file) => {
      const top = file.split(path.sep)[0]!;
      // plugin.wasm.<pid>-<uuid>.tmp: a build in progress.
      return !top.startsWith(WASM_FILE) && top !== TYPES_DIR && top !== 'node_modules';
    })
    .sort();
}

/** The world the manifest asks for; the manifest's other checks are the server's, at install. */
async function worldOf(pluginDir: string): Promise<PluginWorld> {
  const manifestPath = path.join(pluginDir, 'plugin.toml');
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${manifestPath} not found: not a plugin folder`);
    throw error;
  }
  const capabilities = parseToml(text).capabilities as { handle_request?: unknown } | undefined;
  return capabilities?.handle_request === true ? 'format-plugin-v2' : 'format-plugin';
}

async function buildTypeScript(pluginDir: string, wit: string, world: PluginWorld, progress: (message: string) => void): Promise<Uint8Array> {
  const entry = path.join(pluginDir, TYPESCRIPT_ENTRY);
  if (!(await isFile(entry))) {
    throw new Error(`${entry} not found: a TypeScript plugin starts there (or add a ${CUSTOM_BUILD_SCRIPT} for another language)`);
  }
  await writeGuestTypes(pluginDir, world);
  if (await isFile(path.join(pluginDir, 'tsconfig.json'))) {
    progress('type-checking');
    await typeCheck(pluginDir);
  } else {
    progress('no tsconfig.json: not type-checked');
  }

  const workDir = await mkdtemp(path.join(tmpdir(), 'plugin-build-'));
  try {
    progress('bundling src/index.ts (esbuild)');
    const bundle = path.join(workDir, BUNDLE_FILE);
    const sourceMap = await bundleEntry(pluginDir, world, bundle);
    progress(`making the component (componentize-js, ${world})`);
    return appendSourceMap(await componentizeJs(bundle, wit, world), sourceMap);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * Writes the world's guest types (cli/author/wit-types.ts, as `plugin-keeper new` does) under
 * `<dir>/types`. Files whose text is unchanged are left alone, so a rebuild does not touch
 * the folder.
 */
async function writeGuestTypes(pluginDir: string, world: PluginWorld): Promise<void> {
  for (const [name, text] of await generateWitTypes(world)) {
    const file = path.join(pluginDir, TYPES_DIR, name);
    if ((await readFile(file, 'utf8').catch(() => undefined)) === text) continue;
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text);
  }
}

/** `tsc --noEmit -p <dir>`: the author's editor and the build see the same errors. */
async function typeCheck(pluginDir: string): Promise<void> {
  const { default: ts } = await import('typescript');
  const configPath = path.join(pluginDir, 'tsconfig.json');
  const host: import('typescript').FormatDiagnosticsHost = {
    getCanonicalFileName: (file) => file,
    getCurrentDirectory: () => pluginDir,
    getNewLine: () => '\n',
  };
  const { config, error } = ts.readConfigFile(configPath, ts.sys.readFile);
  if (error) throw new Error(ts.formatDiagnostics([error], host));
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, pluginDir, undefined, configPath);
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: { ...parsed.options, noEmit: true } });
  const diagnostics = [...parsed.errors, ...ts.getPreEmitDiagnostics(program)];
  if (diagnostics.length > 0) {
    throw new Error(`type errors in ${pluginDir}:\n${ts.formatDiagnostics(diagnostics, host)}`);
  }
}

const BUNDLE_FILE = 'plugin.js';

/** The exports of each world, as src/index.ts names them. */
const WORLD_EXPORTS: Record<PluginWorld, string[]> = {
  'format-plugin': ['handler'],
  'format-plugin-v2': ['handler', 'requestHandler'],
};

/**
 * The bundle's entry: re-exports src/index.ts's exports, each function wrapped. A thrown
 * string is the plugin's `err` result and passes through untouched; anything else (a
 * TypeError from a bug) is written to stderr as plugin-host/uncaught.ts reads it, with its
 * stack cut to fit one log line, then rethrown, which traps the component: without this the
 * bindings would report only that they "expected a string, received [object]".
 */
function guardedEntry(world: PluginWorld): string {
  const exports = WORLD_EXPORTS[world];
  return `import * as plugin from './${TYPESCRIPT_ENTRY.split(path.sep).join('/')}';
const MARKER = ${JSON.stringify(UNCAUGHT_MARKER)};
function report(error) {
  const isError = error instanceof Error;
  const text = (value, max) => String(value).slice(0, max);
  const fields = {
    name: isError ? text(error.name, 200) : typeof error,
    message: text(isError ? error.message : error, 2000),
    stack: isError && typeof error.stack === 'string' ? error.stack.split('\\n').slice(0, 30).map((frame) => text(frame, 160)).join('\\n') : '',
  };
  console.error(MARKER + JSON.stringify(fields));
}
// A proxy rather than a copy: methods a class instance inherits are wrapped too.
function guard(target) {
  if (target === null || typeof target !== 'object') return target;
  return new Proxy(target, {
    get(object, key) {
      const value = Reflect.get(object, key);
      if (typeof value !== 'function') return value;
      return function (...args) {
        try {
          return value.apply(object, args);
        } catch (error) {
          if (typeof error !== 'string') {
            try {
              report(error);
            } catch {
              // An error whose fields cannot even be read still traps, unreported.
            }
          }
          throw error;
        }
      };
    },
  });
}
${exports.map((name) => `export const ${name} = guard(plugin.${name});`).join('\n')}
`;
}

/** Bundles src/index.ts behind the guarded entry into `outfile`; returns the source map (JSON). */
async function bundleEntry(pluginDir: string, world: PluginWorld, outfile: string): Promise<string> {
  const { build } = await import('esbuild');
  const result = await build({
    stdin: { contents: guardedEntry(world), resolveDir: pluginDir, sourcefile: GUARD_SOURCE, loader: 'js' },
    // Not written: the map's sources come out relative to this path, the plugin folder
    // (`src/index.ts`), as the author knows them.
    outfile: path.join(pluginDir, BUNDLE_FILE),
    write: false,
    sourcemap: 'external',
    // The author has the sources; the component need not carry them.
    sourcesContent: false,
    bundle: true,
    format: 'esm',
    // componentize-js runs the module in StarlingMonkey, a web-style engine: packages'
    // browser builds fit it, and a Node builtin fails here ("Could not resolve node:fs")
    // rather than at run time inside the component.
    platform: 'browser',
    target: 'es2022',
    // Failures come back in the thrown error's message.
    logLevel: 'silent',
  });
  const output = (suffix: string) => result.outputFiles.find((file) => file.path.endsWith(suffix))!.text;
  await writeFile(outfile, output('.js'));
  return output('.js.map');
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
