/**
 * The one interface every format handler implements, compiled-in (core) or WebAssembly.
 * Callers (the artifact pipeline, the /ext routes, the format test endpoint) never know
 * which kind they hold.
 *
 * Failures are thrown as the `PluginFailure` subclasses of ./errors.ts; a core
 * handler rejecting an artifact throws `ArtifactInvalid` exactly as a plugin's `err` does.
 */
import type {
  ArtifactList,
  ArtifactMetadata,
  HttpRequest,
  HttpResponse,
  IndexFile,
  InterfaceVersion,
  RepoContext,
} from '../../protocol/methods.js';

import type { PoolLimits, PoolState, ProcessInfo } from '../runtime/pool.js';
import type { CapabilitySet, HandlerType } from '../store/store.js';

export type { ArtifactList, ArtifactMetadata, HttpRequest, HttpResponse, IndexFile, InterfaceVersion, RepoContext };

/**
 * The artifact a handler validates and parses, read in the ranges the handler needs (a large
 * one need never be held whole). ./artifact-source.ts makes them (a staged file, bytes in
 * memory) and reads one whole for the handlers that want that (`readAll`).
 */
export interface ArtifactSource {
  readonly size: number;
  /** Up to `length` bytes from `offset`: exactly `length` unless the artifact ends first; none at or past the end. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * The staged file holding the bytes, when there is one (an upload): a plugin host opens it
   * itself, read-only, so the bytes never cross the pipe.
   */
  readonly file?: string;
}
/** One process of a plugin version, as the processes endpoint shows it. */
export type PluginProcess = ProcessInfo;

export interface FormatHandler {
  readonly formatKey: string;
  readonly handlerType: HandlerType;
  readonly capabilities: CapabilitySet;
  /**
   * The largest artifact this handler can be given, or null when only the server's own
   * upload limit applies. A 1.0.0 plugin's bound follows from its memory limit: the artifact
   * is copied into the plugin's linear memory, and the plugin needs room to work on it. A
   * 1.1.0 plugin reads ranges and a core handler runs in the server: null.
   */
  readonly maxArtifactBytes: number | null;
  /** Why `maxArtifactBytes` is what it is, in words for a 413 (null with it). */
  readonly maxArtifactReason: string | null;
  /**
   * Names what parses this format's artifacts now: `core:<format>@<server version>` or
   * `wasm:<component SHA-256>`. Stored with each artifact's metadata (`parsed_by`): an artifact
   * parsed by another is parsed again by the next index run of its repository.
   */
  readonly parserId: string;

  validate(path: string, artifact: ArtifactSource): Promise<void>;
  /** `properties` of the result: strings stored as they come, never parsed (bounded by ./plugin-results.ts). */
  parseMetadata(path: string, artifact: ArtifactSource): Promise<ArtifactMetadata>;
  /**
   * `null`: this format has no index. `context`: where the repository's native protocol and
   * downloads are, as absolute URLs on PUBLIC_URL (an index run has no request to take an
   * address from); 1.0.0 plugins are not given it.
   */
  generateIndex(artifacts: ArtifactMetadata[], context: RepoContext): Promise<IndexFile[] | null>;
  /** Native client protocol; only called when `capabilities.handle_request` is true. */
  handleRequest(request: HttpRequest, context: RepoContext, artifacts: ArtifactList): Promise<HttpResponse>;

  /** Linear memory in use now (a plugin's), for the format test endpoint; null for core handlers. */
  memoryUsedBytes(): Promise<number | null>;

  /**
   * Runs `work`, a sequence of calls on this handler (validate, then parse...), to its end: a
   * drain begun meanwhile waits for it (bounded by the time limit), so a version swapped out
   * between two calls of one request still answers both.
   */
  use<T>(work: () => Promise<T>): Promise<T>;

  /** Stop admitting calls, let the ones in flight (and the uses begun) finish, release resources. */
  drain(): Promise<void>;
}

/** A handler running one version of a plugin in child processes. */
export interface PluginHandler extends FormatHandler {
  readonly handlerType: 'wasm';
  readonly version: string;
  /** The format-plugin interface its component targets (told by its exports). */
  readonly interfaceVersion: InterfaceVersion;
  /** The component's SHA-256 and the limits it runs with: what a reconcile compares. */
  readonly wasmSha256: string;
  readonly limits: PoolLimits;
  state(): PoolState;
  /** Why the version was quarantined, when it is. */
  quarantineReason(): string | undefined;
  pids(): number[];
  restarts(): number;
  /** Memory of its processes as last sampled (RSS) and last reported (wasm), summed: for the metrics, without asking the children. */
  usage(): { rssBytes: number; wasmMemoryBytes: number };
  processes(): Promise<PluginProcess[]>;
}
