/**
 * The one interface every format handler implements, compiled-in (core) or WebAssembly.
 * Callers (the artifact pipeline, the /ext routes, the format test endpoint) never know
 * which kind they hold.
 *
 * Failures are thrown as the `PluginFailure` subclasses of ../runtime/errors.ts; a core
 * handler rejecting an artifact throws `ArtifactInvalid` exactly as a plugin's `err` does.
 */
import type {
  ArtifactList,
  ArtifactMetadata,
  HttpRequest,
  HttpResponse,
  IndexFile,
  RepoContext,
} from '../../protocol/methods.js';

import type { PoolLimits, PoolState, ProcessInfo } from '../runtime/pool.js';

export type { ArtifactList, ArtifactMetadata, HttpRequest, HttpResponse, IndexFile, RepoContext };
/** One process of a plugin version, as the processes endpoint shows it. */
export type PluginProcess = ProcessInfo;

export interface Capabilities {
  parse_metadata: boolean;
  validate_artifact: boolean;
  generate_index: boolean;
  handle_request: boolean;
}

export type HandlerType = 'core' | 'wasm';

export interface FormatHandler {
  readonly formatKey: string;
  readonly handlerType: HandlerType;
  readonly capabilities: Capabilities;
  /**
   * The largest artifact this handler can be given, or null when only the server's own
   * upload limit applies. A plugin's bound follows from its memory limit: the artifact is
   * copied into the plugin's linear memory, and the plugin needs room to work on it.
   */
  readonly maxArtifactBytes: number | null;

  validate(path: string, data: Uint8Array): Promise<void>;
  parseMetadata(path: string, data: Uint8Array): Promise<ArtifactMetadata>;
  /** `null`: this format has no index. */
  generateIndex(artifacts: ArtifactMetadata[]): Promise<IndexFile[] | null>;
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
  /** The component's SHA-256 and the limits it runs with: what a reconcile compares. */
  readonly wasmSha256: string;
  readonly limits: PoolLimits;
  state(): PoolState;
  /** Why the version was quarantined, when it is. */
  quarantineReason(): string | undefined;
  pids(): number[];
  restarts(): number;
  processes(): Promise<PluginProcess[]>;
}
