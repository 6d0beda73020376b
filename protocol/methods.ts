/**
 * The RPC vocabulary spoken between the supervisor and a plugin host child.
 *
 * Both ends import these types, so a method name or a field can only change in one place.
 * Byte fields are `Uint8Array`: the framing (./framing.ts) moves them as raw bytes after
 * the JSON header of the same message, never as base64 or arrays of numbers.
 */
import { NotificationType, RequestType, RequestType0 } from 'vscode-jsonrpc';

/**
 * `metadata` record of the WIT `handler` (1.0.0) and `streaming-handler` (1.1.0) interfaces.
 * `sizeBytes` travels as a number (< 2^53). `properties` (1.1.0: strings the server stores and
 * never parses, keys unique, in the handler's order) is absent from 1.0.0 results, and not
 * handed to 1.0.0 plugins.
 */
export interface ArtifactMetadata {
  path: string;
  version: string | null;
  contentType: string;
  sizeBytes: number;
  checksumSha256: string | null;
  properties?: Array<[string, string]>;
}

/** The versions of the format-plugin interface a component may target, told by its exports. */
export type InterfaceVersion = '1.0.0' | '1.1.0';

/** One file of a generated repository index. */
export interface IndexFile {
  path: string;
  content: Uint8Array;
}

export interface HttpRequest {
  method: string;
  path: string;
  query: string;
  headers: Array<[string, string]>;
  body: Uint8Array;
}

export interface RepoContext {
  repoKey: string;
  baseUrl: string;
  downloadBaseUrl: string;
}

export interface HttpResponse {
  status: number;
  headers: Array<[string, string]>;
  body: Uint8Array;
}

/** What a child reports once its component is instantiated and callable. */
export interface ReadyResult {
  formatKey: string;
  interfaceVersion: InterfaceVersion;
  /** Whether the component exports `request-handler` (1.0.0) or `streaming-request-handler` (1.1.0). */
  handlesRequests: boolean;
  /** Linear memory cap applied to every core module, in bytes. */
  memoryLimitBytes: number;
}

export interface StatsResult {
  /** Sum of the byte lengths of the instance's linear memories. */
  wasmMemoryBytes: number;
  heapUsedBytes: number;
  rssBytes: number;
  callsTotal: number;
  instantiations: number;
}

/**
 * The artifact a validate or parse-metadata call is about: its bytes (a small artifact the
 * supervisor holds in memory), or `file`, an absolute path in the supervisor's staging folder
 * that the plugin host opens read-only itself, so the bytes never cross the pipe. A 1.1.0
 * guest reads either through the `artifact` resource; a 1.0.0 guest gets them whole.
 */
export interface ArtifactParams {
  path: string;
  data?: Uint8Array;
  file?: string;
}

export interface GenerateIndexParams {
  artifacts: ArtifactMetadata[];
  /**
   * Handed to 1.1.0 plugins only (1.0.0's generate-index takes no context). The supervisor
   * always sends it; a bare RPC call without it (a benchmark) gives a 1.1.0 guest empty URLs.
   */
  context?: RepoContext;
}

export interface HandleRequestParams {
  request: HttpRequest;
  context: RepoContext;
  artifacts: ArtifactList;
}

/**
 * A repository's artifact metadata as a call carries it: the list, or the list already
 * encoded as UTF-8 JSON. The supervisor sends the encoded form for `/ext`: encoded once per
 * repository generation and shared by every call, it crosses as raw bytes (no per-call
 * walk or JSON.stringify of thousands of objects on the supervisor's event loop).
 */
export type ArtifactList = ArtifactMetadata[] | Uint8Array;

export function encodeArtifacts(artifacts: ArtifactMetadata[]): Uint8Array {
  return Buffer.from(JSON.stringify(artifacts), 'utf8');
}

export function decodeArtifacts(artifacts: ArtifactList): ArtifactMetadata[] {
  if (!(artifacts instanceof Uint8Array)) return artifacts;
  return JSON.parse(Buffer.from(artifacts.buffer, artifacts.byteOffset, artifacts.byteLength).toString('utf8')) as ArtifactMetadata[];
}

/** Resolves once the component is loaded; the supervisor routes no call before it. */
export const Ready = new RequestType0<ReadyResult, void>('plugin/ready');
export const Stats = new RequestType0<StatsResult, void>('plugin/stats');

export const FormatKey = new RequestType0<string, void>('handler/formatKey');
export const ParseMetadata = new RequestType<ArtifactParams, ArtifactMetadata, void>('handler/parseMetadata');
export const Validate = new RequestType<ArtifactParams, null, void>('handler/validate');
/** `null` result: the format has no index (the WIT's `none`). */
export const GenerateIndex = new RequestType<GenerateIndexParams, IndexFile[] | null, void>('handler/generateIndex');
export const HandleRequest = new RequestType<HandleRequestParams, HttpResponse, void>('requestHandler/handleRequest');

/**
 * Child → supervisor, sent as soon as requests are read off the pipe, before they run.
 * Liveness is judged on these, separately from how long a call takes.
 */
export interface AckParams {
  ids: Array<number | string>;
}
export const Ack = new NotificationType<AckParams>('$/ack');

/** JSON-RPC error codes a plugin host answers with (the -32000..-32099 server range). */
export const PluginErrorCode = {
  /** The guest returned `err(message)`; `message` is the guest's own text. */
  GuestError: -32010,
  /** The guest trapped; the instance was discarded and will be re-instantiated. */
  GuestTrap: -32011,
  /** The guest tried to grow linear memory past its cap. */
  MemoryLimit: -32012,
  /** The component does not export what the call needs (e.g. no request-handler). */
  NotSupported: -32013,
  /** The host could not load or instantiate the component. */
  LoadFailed: -32014,
} as const;
export type PluginErrorCode = (typeof PluginErrorCode)[keyof typeof PluginErrorCode];
