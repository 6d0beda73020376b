/**
 * The supervisor's component pipeline: what is this binary, can the plugin host run it, and
 * its transpiled JavaScript in the cache, keyed by the binary's SHA-256.
 *
 * Checks run before anything is transpiled or started, so a plugin author gets every reason
 * for a refusal at once, each as a sentence they can act on.
 */
import { mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { componentWit } from '@bytecodealliance/jco-transpile/wasm-tools';
import {
  isSupportedWasiVersion,
  PROVIDED_WASI_INTERFACES,
  WASI_VERSION_RANGE,
} from '../../plugin-host/wasi/interfaces.js';
import {
  hasWasmMagic,
  isCoreModule,
  type MemoryDescriptor,
  readMemories,
  readSections,
  WASM_PAGE_BYTES,
  WasmReader,
} from '../../protocol/wasm-memory.js';
import type { InterfaceVersion } from '../../protocol/methods.js';
import {
  ARTIFACT_SOURCE_INTERFACE,
  HANDLER_INTERFACE,
  REQUEST_HANDLER_INTERFACE,
  STREAMING_HANDLER_INTERFACE,
  STREAMING_REQUEST_HANDLER_INTERFACE,
} from '../../protocol/wit-interfaces.js';
import { sha256Hex } from '../sha256.js';
import { ComponentRefused } from './errors.js';
import type { TranspileReply, TranspileRequest } from './transpile-worker.js';
import { describeError } from '../../protocol/error-text.js';

/**
 * What one component may make the supervisor spend before it runs at all (docs/operations.md).
 * A componentize-js plugin is about 12 MB with 5 canonical functions and transpiles in about
 * a second to ~150 KB of JavaScript; jco's time and output grow faster than linearly with the
 * number of functions (2,000: 2.7 s and 5 MB; 20,000: 47 s and 52 MB).
 */
export const COMPONENT_LIMITS = {
  /** The component binary. */
  maxBytes: 64 * 1024 * 1024,
  /** Canonical functions (lifted exports, lowered imports, resource built-ins), nested components included. */
  maxFunctions: 1000,
  /** The generated JavaScript; the core .wasm files beside it are the component's own modules. */
  maxJavaScriptBytes: 16 * 1024 * 1024,
  /** One transpile, in a worker thread that is terminated past it. */
  transpileTimeoutMs: 30_000,
  /** The worker's JS heap. */
  transpileHeapMb: 512,
};

export type ComponentLimits = typeof COMPONENT_LIMITS;

/** Bytes 4..7 of a component binary: version 0x0d, layer 1. */
const COMPONENT_PREAMBLE = [0x0d, 0x00, 0x01, 0x00];
const COMPONENT_SECTION_CORE_MODULE = 1;
const COMPONENT_SECTION_COMPONENT = 4;
const COMPONENT_SECTION_CANON = 8;
const CORE_SECTION_CUSTOM = 0;
const NAME_SUBSECTION_MODULE = 0;

export interface CoreModuleInfo {
  /** 1-based position among the component's core modules, in binary order (nested ones included). */
  position: number;
  /** The module's own name from its `name` section, when it has one. */
  name: string | null;
  memories: MemoryDescriptor[];
  /** Why the memories could not be read, when they could not. */
  unreadable: string | null;
}

export interface ComponentInspection {
  kind: 'component';
  /** Interfaces (or bare functions) the component imports, as WIT names with versions. */
  imports: string[];
  exports: string[];
  /** Which interface the component targets, told by its handler export; null when it exports neither. */
  interfaceVersion: InterfaceVersion | null;
  exportsHandler: boolean;
  exportsRequestHandler: boolean;
  coreModules: CoreModuleInfo[];
}

export type Inspection =
  | ComponentInspection
  | { kind: 'core-module' }
  /** Has the WebAssembly magic but a preamble that is neither a core module nor a component. */
  | { kind: 'unknown-wasm-version'; preamble: string }
  /** Looks like a component but wasm-tools cannot decode it. */
  | { kind: 'invalid-component'; reason: string }
  | { kind: 'not-wasm' };

export async function inspectComponent(bytes: Uint8Array): Promise<Inspection> {
  if (!hasWasmMagic(bytes)) return { kind: 'not-wasm' };
  if (isCoreModule(bytes)) return { kind: 'core-module' };
  if (!COMPONENT_PREAMBLE.every((b, i) => bytes[4 + i] === b)) {
    return { kind: 'unknown-wasm-version', preamble: hex(bytes.subarray(4, 8)) };
  }
  let wit: string;
  let coreModules: CoreModuleInfo[];
  try {
    wit = await componentWit(bytes);
    coreModules = findCoreModules(bytes);
  } catch (error) {
    return { kind: 'invalid-component', reason: errorText(error) };
  }
  const { imports, exports } = rootWorldItems(wit);
  const interfaceVersion: InterfaceVersion | null = exports.includes(STREAMING_HANDLER_INTERFACE)
    ? '1.1.0'
    : exports.includes(HANDLER_INTERFACE)
      ? '1.0.0'
      : null;
  return {
    kind: 'component',
    imports,
    exports,
    interfaceVersion,
    exportsHandler: interfaceVersion !== null,
    exportsRequestHandler: exports.includes(interfaceVersion === '1.1.0' ? STREAMING_REQUEST_HANDLER_INTERFACE : REQUEST_HANDLER_INTERFACE),
    coreModules,
  };
}

export interface CheckOptions {
  memoryLimitBytes: number;
  /** plugin.toml asks for `handle_request = true`. */
  requireRequestHandler: boolean;
}

/** Every reason the plugin host could not run these bytes as a format plugin; empty when it can. */
export async function checkComponent(bytes: Uint8Array, options: CheckOptions): Promise<string[]> {
  // Before anything reads the component further: its size bounds every later step.
  const tooLarge = sizeProblems(bytes, COMPONENT_LIMITS);
  if (tooLarge.length > 0) return tooLarge;
  const inspection = await inspectComponent(bytes);
  switch (inspection.kind) {
    case 'not-wasm':
      return ['not a WebAssembly binary: the file does not start with the WebAssembly magic bytes (\\0asm)'];
    case 'core-module':
      return [
        'not a WebAssembly component: this is a core module; wrap it with `wasm-tools component new` ' +
          '(after embedding the artifact-keeper:format@1.0.0 WIT with `wasm-tools component embed`) to make it a component',
      ];
    case 'unknown-wasm-version':
      return [
        `unsupported WebAssembly binary version (bytes 4-7 are ${inspection.preamble}; a component has 0d 00 01 00): ` +
          'rebuild it with a current component toolchain',
      ];
    case 'invalid-component':
      return [`not a valid WebAssembly component: ${inspection.reason}`];
    case 'component':
      return [
        ...exportProblems(inspection, options),
        ...inspection.imports.flatMap(importProblem),
        ...inspection.coreModules.flatMap((module) => memoryProblems(module, options.memoryLimitBytes)),
      ];
  }
}

/**
 * A component too large to transpile within the limits: its size, then (for a component)
 * its canonical function count, which is what jco's time and output grow with.
 */
function sizeProblems(bytes: Uint8Array, limits: ComponentLimits): string[] {
  if (bytes.byteLength > limits.maxBytes) {
    return [`the component is ${formatMiB(bytes.byteLength)}, more than the limit of ${formatMiB(limits.maxBytes)}`];
  }
  if (isCoreModule(bytes) || !hasWasmMagic(bytes)) return [];
  let functions: number;
  try {
    functions = countCanonicalFunctions(bytes);
  } catch {
    return []; // undecodable: inspectComponent says why
  }
  if (functions > limits.maxFunctions) {
    return [
      `the component defines ${functions} functions (lifted exports and lowered imports), more than the limit of ` +
        `${limits.maxFunctions}; a format plugin needs a few dozen at most`,
    ];
  }
  return [];
}

/** Entries of every canon section, nested components included: one per canonical function. */
function countCanonicalFunctions(component: Uint8Array): number {
  let count = 0;
  const walk = (bytes: Uint8Array) => {
    for (const section of readSections(bytes)) {
      if (section.id === COMPONENT_SECTION_CANON) count += new WasmReader(bytes, section.contentStart).unsigned();
      else if (section.id === COMPONENT_SECTION_COMPONENT) walk(bytes.subarray(section.contentStart, section.end));
    }
  };
  walk(component);
  return count;
}

function exportProblems(inspection: ComponentInspection, options: CheckOptions): string[] {
  const exported = inspection.exports.length > 0 ? inspection.exports.join(', ') : 'nothing';
  const problems: string[] = [];
  if (!inspection.exportsHandler) {
    problems.push(`does not export ${HANDLER_INTERFACE} (1.0.0) or ${STREAMING_HANDLER_INTERFACE} (1.1.0) (exports: ${exported})`);
  }
  if (options.requireRequestHandler && !inspection.exportsRequestHandler) {
    const [wanted, world] =
      inspection.interfaceVersion === '1.1.0'
        ? [STREAMING_REQUEST_HANDLER_INTERFACE, 'format-plugin-v3-http']
        : [REQUEST_HANDLER_INTERFACE, 'format-plugin-v2'];
    problems.push(
      `does not export ${wanted}, which plugin.toml asks for with handle_request = true ` +
        `(exports: ${exported}); build it for the ${world} world or set handle_request = false`,
    );
  }
  return problems;
}

const provided: ReadonlySet<string> = new Set(PROVIDED_WASI_INTERFACES);

function importProblem(name: string): string[] {
  // The host's own interface of the 1.1.0 worlds.
  if (name === ARTIFACT_SOURCE_INTERFACE) return [];
  const { unversioned, version } = splitVersion(name);
  if (provided.has(unversioned)) {
    if (isSupportedWasiVersion(version)) return [];
    return [
      `imports ${name}, but the plugin host implements WASI ${WASI_VERSION_RANGE} only; build against WASI 0.2`,
    ];
  }
  if (unversioned.startsWith('wasi:sockets/')) {
    return [`imports ${name}: plugins have no network access; remove the socket use from the plugin`];
  }
  if (unversioned.startsWith('wasi:http/')) {
    return [`imports ${name}: plugins cannot make or serve HTTP requests; remove the HTTP use from the plugin`];
  }
  return [
    `imports ${name}, which the plugin host does not provide; a format plugin may import only ` +
      `these WASI ${WASI_VERSION_RANGE} interfaces: ${PROVIDED_WASI_INTERFACES.join(', ')}`,
  ];
}

function memoryProblems(module: CoreModuleInfo, memoryLimitBytes: number): string[] {
  const label = `core module #${module.position}${module.name ? ` ("${module.name}")` : ''}`;
  if (module.unreadable !== null) return [`the memories of ${label} could not be read: ${module.unreadable}`];
  return module.memories.flatMap((memory) => {
    const problems: string[] = [];
    const kind = memory.import
      ? `imported linear memory "${memory.import.module}" "${memory.import.name}"`
      : 'linear memory';
    if (memory.memory64) {
      // Node 20 runs memory64 only behind --experimental-wasm-memory64.
      problems.push(
        `${kind} of ${label} is a 64-bit memory (memory64), which the plugin host's engine cannot run; build for wasm32`,
      );
    }
    const initialBytes = memory.initialPages * WASM_PAGE_BYTES;
    if (initialBytes > memoryLimitBytes) {
      problems.push(
        `initial ${kind} ${formatMiB(initialBytes)} of ${label} exceeds the plugin's memory limit of ` +
          `${formatMiB(memoryLimitBytes)}; lower the module's initial memory or raise the plugin's memory limit`,
      );
    }
    return problems;
  });
}

/**
 * What built the component, as far as the plugin's memory needs go: `componentize-js` (its
 * root `producers` section names ComponentizeJS: a JavaScript engine whose heap lives in
 * linear memory and keeps several copies of what it is handed), else `other` (WAT, C, Rust...).
 */
export type Toolchain = 'componentize-js' | 'other';

export function componentToolchain(component: Uint8Array): Toolchain {
  try {
    for (const section of readSections(component)) {
      if (section.id !== CORE_SECTION_CUSTOM) continue;
      const reader = new WasmReader(component, section.contentStart);
      if (reader.name() !== 'producers') continue;
      // producers: fields (name, values (name, version)*)*
      for (let fields = reader.unsigned(); fields > 0; fields--) {
        reader.name();
        for (let values = reader.unsigned(); values > 0; values--) {
          if (reader.name() === 'ComponentizeJS') return 'componentize-js';
          reader.name();
        }
      }
    }
  } catch {
    // An unreadable producers section says nothing about the toolchain.
  }
  return 'other';
}

/**
 * The core modules embedded in a component, nested components included, each with its
 * memories read straight from its memory and import sections.
 */
function findCoreModules(component: Uint8Array): CoreModuleInfo[] {
  const modules: CoreModuleInfo[] = [];
  const walk = (bytes: Uint8Array) => {
    for (const section of readSections(bytes)) {
      const content = bytes.subarray(section.contentStart, section.end);
      if (section.id === COMPONENT_SECTION_CORE_MODULE) {
        modules.push(describeCoreModule(content, modules.length + 1));
      } else if (section.id === COMPONENT_SECTION_COMPONENT) {
        walk(content);
      }
    }
  };
  walk(component);
  return modules;
}

function describeCoreModule(module: Uint8Array, position: number): CoreModuleInfo {
  try {
    return { position, name: moduleName(module), memories: readMemories(module), unreadable: null };
  } catch (error) {
    return { position, name: null, memories: [], unreadable: errorText(error) };
  }
}

/** The module name subsection of the `name` custom section, if any. */
function moduleName(module: Uint8Array): string | null {
  for (const section of readSections(module)) {
    if (section.id !== CORE_SECTION_CUSTOM) continue;
    const reader = new WasmReader(module, section.contentStart);
    if (reader.name() !== 'name') continue;
    while (reader.offset < section.end) {
      const id = reader.byte();
      const size = reader.unsigned();
      if (id === NAME_SUBSECTION_MODULE) return reader.name();
      reader.offset += size;
    }
  }
  return null;
}

/**
 * The items of `world root` in wasm-tools' WIT rendering of a component: one per line at
 * the world's indentation, `import wasi:cli/stdout@0.2.3;` or `export name: func(...)`.
 */
function rootWorldItems(wit: string): { imports: string[]; exports: string[] } {
  const body = /^world root \{\n([\s\S]*?)^\}/m.exec(wit)?.[1] ?? '';
  const imports: string[] = [];
  const exports: string[] = [];
  for (const line of body.split('\n')) {
    const item = /^ {2}(import|export) ([^\s;]+?)(?:;|:\s|\s|$)/.exec(line);
    if (!item) continue;
    (item[1] === 'import' ? imports : exports).push(item[2]!);
  }
  return { imports, exports };
}

function splitVersion(name: string): { unversioned: string; version: string | null } {
  const at = name.lastIndexOf('@');
  return at < 0 ? { unversioned: name, version: null } : { unversioned: name.slice(0, at), version: name.slice(at + 1) };
}

function formatMiB(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return `${Number.isInteger(mib) ? mib : Number(mib.toFixed(2))} MiB`;
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** wasm-tools throws ComponentErrors with multi-line messages; a problem list wants one line. */
function errorText(error: unknown): string {
  const text = describeError(error);
  return text.split('\n').filter((line) => line.trim() !== '').join(': ');
}

// ---------------------------------------------------------------------------------------
// Transpile cache

export interface TranspiledComponent {
  sha256: string;
  /** `<cacheDir>/<sha256>`: the generated module, its core .wasm files and a package.json. */
  dir: string;
  /** The generated ES module the plugin host imports (`<dir>/plugin.js`). */
  entry: string;
  /** Whether this call ran the transpiler (false: the output was already cached or being built). */
  transpiled: boolean;
}

const ENTRY_FILE = 'plugin.js';

/** Builds in progress in this process, by output directory, so concurrent callers share one. */
const building = new Map<string, Promise<boolean>>();

/**
 * Transpiles `bytes` into `<cacheDir>/<sha256>/` unless that is already there. The output is
 * written to a temporary directory beside it and renamed into place, so a directory under its
 * hash is always complete; if another process renames first, its output is kept. A component
 * over the limits is refused with ComponentRefused, and leaves nothing in the cache.
 */
export async function transpileToCache(
  bytes: Uint8Array,
  cacheDir: string,
  limits: ComponentLimits = COMPONENT_LIMITS,
): Promise<TranspiledComponent> {
  const sha256 = sha256Hex(bytes);
  const dir = join(resolve(cacheDir), sha256);
  const cached: TranspiledComponent = { sha256, dir, entry: join(dir, ENTRY_FILE), transpiled: false };

  // Registered before the first await, so a concurrent caller always finds it.
  let pending = building.get(dir);
  if (pending) {
    await pending;
    return cached;
  }
  pending = exists(dir).then((done) => (done ? false : buildInto(bytes, dir, limits)));
  building.set(dir, pending);
  try {
    return { ...cached, transpiled: await pending };
  } finally {
    building.delete(dir);
  }
}

/** Removes a component's cached output (an install that failed after transpiling it). */
export async function removeFromCache(sha256: string, cacheDir: string): Promise<void> {
  await rm(join(resolve(cacheDir), sha256), { recursive: true, force: true });
}

/** Returns whether this call's output was the one renamed into place. */
async function buildInto(bytes: Uint8Array, dir: string, limits: ComponentLimits): Promise<boolean> {
  const problems = sizeProblems(bytes, limits);
  if (problems.length > 0) throw new ComponentRefused(problems);
  const files = await transpileInWorker(bytes, limits);
  await mkdir(dirname(dir), { recursive: true, mode: 0o700 });
  const temp = await mkdtemp(`${dir}.tmp-`);
  try {
    for (const [name, content] of files) {
      const path = join(temp, name);
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await writeFile(path, content, { mode: 0o600 });
    }
    // The output is ESM .js; without this Node would read it as CommonJS.
    await writeFile(join(temp, 'package.json'), '{"type":"module"}\n', { mode: 0o600 });
    await rename(temp, dir);
    return true;
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    if (isCode(error, 'ENOTEMPTY') || isCode(error, 'EEXIST')) return false;
    throw error;
  }
}

const workerFile = new URL('./transpile-worker.js', import.meta.url);

/** jco's transpile in a worker thread, bounded in heap and time; the event loop stays free. */
function transpileInWorker(bytes: Uint8Array, limits: ComponentLimits): Promise<Array<[string, Uint8Array]>> {
  return new Promise((resolvePromise, reject) => {
    const request: TranspileRequest = { bytes, maxJavaScriptBytes: limits.maxJavaScriptBytes };
    const worker = new Worker(workerFile, {
      workerData: request,
      resourceLimits: { maxOldGenerationSizeMb: limits.transpileHeapMb },
    });
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      void worker.terminate();
      outcome();
    };
    const deadline = setTimeout(
      () => settle(() => reject(new ComponentRefused([`transpiling it took longer than the limit of ${limits.transpileTimeoutMs / 1000} s`]))),
      limits.transpileTimeoutMs,
    );
    worker.on('message', (reply: TranspileReply) =>
      settle(() => (reply.ok ? resolvePromise(reply.files) : reject(new ComponentRefused([reply.problem])))),
    );
    worker.on('error', (error) => {
      const outOfMemory = (error as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY';
      const problem = outOfMemory
        ? `transpiling it needed more than the limit of ${limits.transpileHeapMb} MB of heap`
        : `jco could not transpile it: ${error.message}`;
      settle(() => reject(new ComponentRefused([problem])));
    });
    worker.on('exit', (code) => settle(() => reject(new ComponentRefused([`the transpiler stopped unexpectedly (exit code ${code})`]))));
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isCode(error, 'ENOENT')) return false;
    throw error;
  }
}

function isCode(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
