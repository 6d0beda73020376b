/**
 * Loads one transpiled component inside the plugin host and makes its exports callable,
 * with every linear memory and table capped and every failure classified.
 *
 * The component was transpiled by supervisor/runtime/transpile-worker.ts (`transpileOptions()`):
 * instantiation mode, one .wasm file per core module, WASI taken from the import object,
 * guest `err` results thrown as their bare string payload. This module relies on each of
 * those choices.
 *
 * A trapped instance is never called again: the bindings do not reliably mark it dead, and
 * its memory may be half-written. It is dropped and a fresh instance is built from the
 * already compiled core modules, which costs far less than the first load.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type {
  ArtifactMetadata,
  HttpRequest,
  HttpResponse,
  IndexFile,
  InterfaceVersion,
  RepoContext,
} from '../protocol/methods.js';
import { capMemories, capTables, WASM_PAGE_BYTES } from '../protocol/wasm-memory.js';
import type { GuestStream } from '../protocol/log-lines.js';
import { ARTIFACT_SOURCE_IMPORT, EXPORTED_INTERFACES } from '../protocol/wit-interfaces.js';
import { ArtifactMisuse, ArtifactResource, readWhole, ReadTooLarge, type ArtifactInput } from './artifact.js';
import { describeUncaught, parseUncaught, StackMapper, type UncaughtError } from './uncaught.js';
import { createWasi, type PluginLog } from './wasi/imports.js';
import { describeError } from '../protocol/error-text.js';

/** The guest returned `err(message)`; the message is the guest's own text. */
export class GuestError extends Error {
  override name = 'GuestError';
}

/** The guest trapped (unreachable, out-of-bounds access, a value that cannot be lifted...). */
export class GuestTrap extends Error {
  override name = 'GuestTrap';
}

/** The guest needed more linear memory than the plugin's limit allows. */
/**
 * How guests word a failed allocation in their `err`: "out of memory" (SpiderMonkey in
 * componentize-js components, AssemblyScript, C guests by convention), Rust's "memory
 * allocation of N bytes failed".
 */
const OUT_OF_MEMORY = /out of memory|memory allocation of \d+ bytes failed/i;

export class MemoryLimitExceeded extends Error {
  override name = 'MemoryLimitExceeded';
  constructor(
    readonly limitBytes: number,
    message = `the plugin exceeded its memory limit of ${formatMiB(limitBytes)}`,
  ) {
    super(message);
  }
}

/** The component does not export what the call needs. */
export class NotSupported extends Error {
  override name = 'NotSupported';
}

export interface LoadedPlugin {
  /** Told by the exports: 1.1.0 components export streaming-handler. */
  readonly interfaceVersion: InterfaceVersion;
  readonly handlesRequests: boolean;
  formatKey(): Promise<string>;
  /** A 1.1.0 guest reads the artifact through its handle; a 1.0.0 one gets it whole. */
  parseMetadata(path: string, artifact: ArtifactInput): Promise<ArtifactMetadata>;
  validate(path: string, artifact: ArtifactInput): Promise<void>;
  /** `context` reaches 1.1.0 guests only. */
  generateIndex(artifacts: ArtifactMetadata[], context: RepoContext): Promise<IndexFile[] | null>;
  handleRequest(request: HttpRequest, context: RepoContext, artifacts: ArtifactMetadata[]): Promise<HttpResponse>;
  /** Bytes of linear memory the current instance holds, all its memories summed. */
  wasmMemoryBytes(): number;
  /** How many times the component was instantiated (1 after loading, +1 per trap recovered from). */
  readonly instantiations: number;
}

export interface LoadOptions {
  /** The transpiled component's entry module (`plugin.js` in the transpile cache). */
  entry: string;
  /** Cap applied to every linear memory; a whole number of 64 KiB pages is used. */
  memoryLimitBytes: number;
  /** Receives the guest's WASI stdout and stderr. */
  log: PluginLog;
}

// The shapes jco generates for the WIT in wit/format-plugin.wit and wit/format-plugin-1.1.wit.
interface WitMetadata {
  path: string;
  version?: string;
  contentType: string;
  sizeBytes: bigint;
  checksumSha256?: string;
  /** 1.1.0 only. */
  properties?: Array<[string, string]>;
}

type WitIndex = Array<[string, Uint8Array]> | undefined;

/** 1.0.0 `handler`: the artifact as bytes. */
interface HandlerExports {
  formatKey(): string;
  parseMetadata(path: string, data: Uint8Array): WitMetadata;
  validate(path: string, data: Uint8Array): void;
  generateIndex(artifacts: WitMetadata[]): WitIndex;
}

/** 1.1.0 `streaming-handler`: the artifact as a borrowed handle (the host object jco lowers). */
interface StreamingHandlerExports {
  formatKey(): string;
  parseMetadata(path: string, artifact: object): WitMetadata;
  validate(path: string, artifact: object): void;
  generateIndex(context: RepoContext, artifacts: WitMetadata[]): WitIndex;
}

/** http-request, repo-context and http-response lift to exactly the protocol's shapes (both versions). */
interface RequestHandlerExports {
  handleRequest(request: HttpRequest, context: RepoContext, artifacts: WitMetadata[]): HttpResponse;
}

interface TranspiledModule {
  instantiate(
    getCoreModule: (name: string) => Promise<WebAssembly.Module>,
    imports: Record<string, unknown>,
    instantiateCore: (module: WebAssembly.Module, imports: WebAssembly.Imports) => Promise<WebAssembly.Instance>,
  ): Promise<Record<string, unknown>>;
}

type VersionedHandler =
  | { version: '1.0.0'; exports: HandlerExports }
  | { version: '1.1.0'; exports: StreamingHandlerExports };

interface Instance {
  handler: VersionedHandler;
  requestHandler: RequestHandlerExports | undefined;
  /** The instance's `artifact` resource (1.1.0; unused by 1.0.0 guests). */
  artifacts: ArtifactResource;
  /** Every memory exported by one of the component's core instances (imported ones are among them). */
  memories: Set<WebAssembly.Memory>;
  /** Passes the guest's unfinished stdout/stderr line to the log. */
  flushLog(): void;
}

export async function loadPlugin(options: LoadOptions): Promise<LoadedPlugin> {
  const maximumPages = Math.floor(options.memoryLimitBytes / WASM_PAGE_BYTES);
  if (maximumPages < 1) throw new RangeError(`memory limit ${options.memoryLimitBytes} is less than one 64 KiB page`);
  const transpiled = (await import(pathToFileURL(options.entry).href)) as TranspiledModule;
  const plugin = new ComponentPlugin(
    transpiled,
    dirname(options.entry),
    maximumPages,
    options.memoryLimitBytes,
    options.log,
  );
  await plugin.start();
  return plugin;
}

class ComponentPlugin implements LoadedPlugin {
  /** The cap actually applied: the limit rounded down to whole pages. */
  private readonly capBytes: number;
  private instantiationCount = 0;
  /** The most any one call has grown a linear memory by: the guest allocator's growth step. */
  private largestGrowthBytes = 0;
  private exportsRequestHandler = false;
  private version: InterfaceVersion = '1.0.0';
  /** The instance calls go to; replaced as soon as one fails. */
  private live!: Promise<Instance>;
  private current: Instance | undefined;
  /** Compiled once per core module: re-instantiation after a trap only links. */
  private readonly compiled = new Map<string, Promise<WebAssembly.Module>>();
  private readonly stackMapper: StackMapper;
  /** What the build's wrapper reported during the current call (./uncaught.ts). */
  private uncaught: UncaughtError | undefined;

  constructor(
    private readonly transpiled: TranspiledModule,
    private readonly dir: string,
    private readonly maximumPages: number,
    /** The limit as configured, named in MemoryLimitExceeded. */
    private readonly limitBytes: number,
    private readonly log: PluginLog,
  ) {
    this.capBytes = maximumPages * WASM_PAGE_BYTES;
    this.stackMapper = new StackMapper(dir);
  }

  get instantiations(): number {
    return this.instantiationCount;
  }

  get handlesRequests(): boolean {
    return this.exportsRequestHandler;
  }

  get interfaceVersion(): InterfaceVersion {
    return this.version;
  }

  async start(): Promise<void> {
    this.live = this.instantiate();
    const instance = await this.live;
    this.version = instance.handler.version;
    this.exportsRequestHandler = instance.requestHandler !== undefined;
  }

  async formatKey(): Promise<string> {
    return this.call((i) => i.handler.exports.formatKey());
  }

  async parseMetadata(path: string, artifact: ArtifactInput): Promise<ArtifactMetadata> {
    return this.withArtifact(artifact, {
      whole: (handler, data) => handler.parseMetadata(path, data),
      lent: (handler, borrowed) => handler.parseMetadata(path, borrowed),
    }).then(fromWitMetadata);
  }

  async validate(path: string, artifact: ArtifactInput): Promise<void> {
    await this.withArtifact(artifact, {
      whole: (handler, data) => handler.validate(path, data),
      lent: (handler, borrowed) => handler.validate(path, borrowed),
    });
  }

  async generateIndex(artifacts: ArtifactMetadata[], context: RepoContext): Promise<IndexFile[] | null> {
    const lowered = artifacts.map((metadata) => toWitMetadata(metadata, this.version));
    return this.call((i) => {
      const files =
        i.handler.version === '1.1.0' ? i.handler.exports.generateIndex(context, lowered) : i.handler.exports.generateIndex(lowered);
      return files === undefined ? null : files.map(([path, content]) => ({ path, content }));
    });
  }

  /** A validate or parse-metadata call: a 1.0.0 guest gets the bytes whole, a 1.1.0 one a handle. */
  private withArtifact<T>(
    artifact: ArtifactInput,
    calls: { whole: (handler: HandlerExports, data: Uint8Array) => T; lent: (handler: StreamingHandlerExports, borrowed: object) => T },
  ): Promise<T> {
    // Read before the instance is taken: nothing may be awaited between the two (see call()).
    const data = this.version === '1.0.0' ? readWhole(artifact) : undefined;
    return this.call((i) =>
      i.handler.version === '1.1.0'
        ? i.artifacts.lend(artifact, (borrowed) => calls.lent(i.handler.exports as StreamingHandlerExports, borrowed))
        : calls.whole(i.handler.exports, data!),
    );
  }

  async handleRequest(
    request: HttpRequest,
    context: RepoContext,
    artifacts: ArtifactMetadata[],
  ): Promise<HttpResponse> {
    if (!this.handlesRequests) {
      throw new NotSupported(
        `the plugin's component does not export ${EXPORTED_INTERFACES[this.version].requestHandler}, so it cannot handle requests`,
      );
    }
    const lowered = artifacts.map((metadata) => toWitMetadata(metadata, this.version));
    return this.call((i) => i.requestHandler!.handleRequest(request, context, lowered));
  }

  wasmMemoryBytes(): number {
    let total = 0;
    for (const memory of this.current?.memories ?? []) total += memory.buffer.byteLength;
    return total;
  }

  /**
   * Runs one synchronous guest call on the live instance. Nothing may be awaited between
   * checking that the instance is still live and calling it: a call queued behind one that
   * traps must not run on the instance that trapped.
   */
  private async call<T>(guestCall: (instance: Instance) => T): Promise<T> {
    let instance: Instance;
    for (;;) {
      const pending = this.live;
      instance = await pending;
      if (pending === this.live) break;
    }
    const sizesBefore = memorySizes(instance);
    this.uncaught = undefined;
    try {
      return guestCall(instance);
    } catch (thrown) {
      const error = this.classify(thrown, instance, sizesBefore);
      // Only an ordinary err result leaves the instance fit for the next call. The fresh one
      // is ready before the failure is reported, so whoever sees the failure (and the
      // instantiation count) sees the replacement too.
      if (!(error instanceof GuestError)) await this.replace();
      throw error;
    } finally {
      instance.flushLog();
      for (const [memory, before] of sizesBefore) {
        this.largestGrowthBytes = Math.max(this.largestGrowthBytes, memory.buffer.byteLength - before);
      }
    }
  }

  /**
   * Whether a trap looks like a refused `memory.grow`: some memory is within one growth step
   * of the cap. A refused grow leaves no trace the host can see (the guest just gets -1), and
   * allocators grow in steps (a JavaScript engine's heap by megabytes), so the step is the
   * largest growth seen in one call: this call's, or any earlier call's, at least one page.
   */
  private withinGrowthStepOfCap(sizesBefore: Map<WebAssembly.Memory, number>): boolean {
    for (const [memory, before] of sizesBefore) {
      const size = memory.buffer.byteLength;
      const step = Math.max(WASM_PAGE_BYTES, size - before, this.largestGrowthBytes);
      if (size + step > this.capBytes) return true;
    }
    return false;
  }

  /** What a guest call threw, as one of the loader's error classes. */
  private classify(thrown: unknown, instance: Instance, sizesBefore: Map<WebAssembly.Memory, number>): Error {
    if (thrown instanceof ArtifactMisuse) return thrown;
    if (thrown instanceof ReadTooLarge) {
      return new MemoryLimitExceeded(this.limitBytes, `${thrown.message} (${formatMiB(this.limitBytes)}); read it in smaller ranges`);
    }
    const atCap = [...instance.memories].some((m) => m.buffer.byteLength >= this.capBytes - WASM_PAGE_BYTES);
    // noComponentErrorWrapping: an `err` result arrives as the guest's bare string.
    if (typeof thrown === 'string') {
      // A guest reporting it is out of memory hit the cap, however far below it its memory
      // is: one large allocation fails while the memory is still small.
      if (!atCap && OUT_OF_MEMORY.test(thrown)) {
        return new MemoryLimitExceeded(
          this.limitBytes,
          `the plugin ran out of memory under its limit of ${formatMiB(this.limitBytes)} (an allocation larger than what the limit leaves) and returned the error "${thrown}"`,
        );
      }
      if (!atCap) return new GuestError(thrown);
      // A guest that caught its own failed memory.grow: usable, but full to the cap.
      return new MemoryLimitExceeded(
        this.limitBytes,
        `the plugin reached its memory limit of ${formatMiB(this.limitBytes)} and returned the error "${thrown}"`,
      );
    }
    const message = describeError(thrown);
    // A guest that hits the cap usually aborts (unreachable) instead of reporting it.
    if (atCap) {
      return new MemoryLimitExceeded(
        this.limitBytes,
        `the plugin reached its memory limit of ${formatMiB(this.limitBytes)} and then trapped: ${message}`,
      );
    }
    if (this.withinGrowthStepOfCap(sizesBefore)) {
      return new MemoryLimitExceeded(
        this.limitBytes,
        `the plugin's memory was within one growth step of its limit of ${formatMiB(this.limitBytes)} when it trapped (its allocator most likely could not grow): ${message}`,
      );
    }
    // The build's wrapper said what the guest threw: the trap itself only says "unreachable".
    if (this.uncaught) return new GuestTrap(`uncaught ${describeUncaught(this.uncaught)}`, { cause: thrown });
    return new GuestTrap(message, { cause: thrown });
  }

  /**
   * Drops the current instance and builds a new one. If that fails, the failure is not
   * thrown here (the call being reported failed for its own reason) but stays in `live`,
   * where every later call meets it.
   */
  private async replace(): Promise<void> {
    this.current = undefined;
    this.live = this.instantiate();
    await this.live.catch(() => undefined);
  }

  private async instantiate(): Promise<Instance> {
    const memories = new Set<WebAssembly.Memory>();
    const wasi = createWasi((stream, text) => this.guestLog(stream, text));
    // No single read may be larger than the guest's whole memory: it could never hold it.
    const artifacts = new ArtifactResource(this.capBytes);
    const root = await this.transpiled.instantiate(
      (name) => this.coreModule(name),
      { ...wasi.imports, [ARTIFACT_SOURCE_IMPORT]: { Artifact: artifacts.hostClass } },
      async (module, imports) => {
        const instance = await WebAssembly.instantiate(module, artifacts.watchDrops(imports));
        for (const value of Object.values(instance.exports)) {
          if (value instanceof WebAssembly.Memory) memories.add(value);
        }
        return instance;
      },
    );
    const streaming = root[EXPORTED_INTERFACES['1.1.0'].handler] as StreamingHandlerExports | undefined;
    const plain = root[EXPORTED_INTERFACES['1.0.0'].handler] as HandlerExports | undefined;
    const handler: VersionedHandler | undefined = streaming
      ? { version: '1.1.0', exports: streaming }
      : plain && { version: '1.0.0', exports: plain };
    if (!handler) {
      throw new Error(`the component exports neither ${EXPORTED_INTERFACES['1.0.0'].handler} nor ${EXPORTED_INTERFACES['1.1.0'].handler}`);
    }
    const instance: Instance = {
      handler,
      requestHandler: root[EXPORTED_INTERFACES[handler.version].requestHandler] as RequestHandlerExports | undefined,
      artifacts,
      memories,
      flushLog: wasi.flush,
    };
    this.instantiationCount++;
    this.current = instance;
    return instance;
  }

  /** The guest's stdout/stderr lines, an uncaught error's marker line taken out and told mapped. */
  private guestLog(stream: GuestStream, text: string): void {
    const report = stream === 'stderr' ? parseUncaught(text) : undefined;
    if (!report) return this.log(stream, text);
    this.uncaught = this.stackMapper.map(report);
    for (const line of `uncaught ${describeUncaught(this.uncaught)}`.split('\n')) this.log(stream, `${line}\n`);
  }

  private coreModule(name: string): Promise<WebAssembly.Module> {
    let module = this.compiled.get(name);
    if (!module) {
      module = this.compileCapped(name);
      this.compiled.set(name, module);
    }
    return module;
  }

  private async compileCapped(name: string): Promise<WebAssembly.Module> {
    // Names come from the generated module and are plain file names beside it.
    const bytes = await readFile(join(this.dir, basename(name)));
    let capped: Uint8Array;
    try {
      // Tables too: their elements are host memory outside every linear memory.
      capped = capTables(capMemories(bytes, this.maximumPages));
    } catch (error) {
      if (error instanceof RangeError) {
        throw new MemoryLimitExceeded(
          this.limitBytes,
          `core module ${name} needs more initial memory than the limit of ${formatMiB(this.limitBytes)}: ${error.message}`,
        );
      }
      throw error;
    }
    return WebAssembly.compile(capped as Uint8Array<ArrayBuffer>);
  }
}

function memorySizes(instance: Instance): Map<WebAssembly.Memory, number> {
  return new Map([...instance.memories].map((memory) => [memory, memory.buffer.byteLength]));
}

function toWitMetadata(metadata: ArtifactMetadata, version: InterfaceVersion): WitMetadata {
  const lowered: WitMetadata = {
    path: metadata.path,
    version: metadata.version ?? undefined,
    contentType: metadata.contentType,
    sizeBytes: BigInt(metadata.sizeBytes),
    checksumSha256: metadata.checksumSha256 ?? undefined,
  };
  if (version === '1.1.0') lowered.properties = metadata.properties ?? [];
  return lowered;
}

function fromWitMetadata(metadata: WitMetadata): ArtifactMetadata {
  if (metadata.sizeBytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`the plugin returned size-bytes ${metadata.sizeBytes}, more than the 2^53-1 the host can carry`);
  }
  return {
    path: metadata.path,
    version: metadata.version ?? null,
    contentType: metadata.contentType,
    sizeBytes: Number(metadata.sizeBytes),
    checksumSha256: metadata.checksumSha256 ?? null,
    ...(metadata.properties !== undefined && { properties: metadata.properties }),
  };
}

function formatMiB(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return `${Number.isInteger(mib) ? mib : Number(mib.toFixed(2))} MiB`;
}
