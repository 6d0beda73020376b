/**
 * What the HTTP layer asks of the services, and what it gets back. Routes depend on these
 * interfaces only; supervisor/main.ts wires the implementations in.
 *
 * Every caller-facing failure is a `ServiceError` (./errors.ts) carrying its status, code
 * and extra body fields; a `PluginFailure` (../runtime/errors.ts) from a plugin call is
 * mapped by the HTTP layer with the contract's "Plugin failures" table.
 */
import type { Readable } from 'node:stream';
import type { ClusterHealth, NodeView } from '../cluster/nodes.js';
import type { HttpRequest, HttpResponse } from '../formats/handler.js';
import type {
  ArtifactRow,
  EventSeverity,
  FormatHandlerRow,
  HandlerType,
  PluginEventRow,
  PluginNodeStateRow,
  PluginRow,
  PluginStatus,
  PluginType,
  IndexFileRow,
  PluginLogQuery,
  PluginLogRow,
  PluginProcessRow,
  RepositoryRow,
  ResourceLimits,
  Role,
} from '../store/store.js';
import { NODE_PLUGIN_STATES } from '../store/store.js';
import { POOL_STATES } from '../runtime/pool.js';

/** This node's processes of a plugin: its pool's state, or `not_started` when it has no pool here. */
export const PLUGIN_RUNTIME_STATES = [...POOL_STATES, 'not_started'] as const;
export type PluginRuntimeState = (typeof PLUGIN_RUNTIME_STATES)[number];

/** A plugin in `/health`'s `failing`: a node's own state, or `draining` while its pool drains. */
export const FAILING_PLUGIN_STATES = [...NODE_PLUGIN_STATES, 'draining'] as const;

/** `runtime` of the plugin object. */
export interface PluginRuntimeView {
  state: PluginRuntimeState;
  instances: number;
  restarts: number;
  pids: number[];
}

/** One live node's actual state of a plugin. */
export type NodeStateView = Omit<PluginNodeStateRow, 'plugin_id' | 'generation'>;

/**
 * The plugin object of the contract: the row (minus internals) plus `plugin_id`, `runtime`
 * (this node's processes) and `nodes` (every live node's state). `status` is `error` when
 * the plugin should run and every live node failed to start it or quarantined it.
 */
export type PluginView = Omit<PluginRow, 'manifest' | 'limits_override' | 'generation'> & {
  plugin_id: string;
  runtime: PluginRuntimeView;
  nodes: NodeStateView[];
};

/** Install responses add a sentence and the manifest warnings. */
export type InstalledPluginView = PluginView & { message: string; warnings: string[] };

/** One process as `GET /plugins/:id/processes` shows it: the row its node wrote, without the row's own bookkeeping. */
export type ProcessView = Omit<PluginProcessRow, 'plugin_id' | 'slot' | 'updated_at'>;

/** `replaceCore`: the admin means the plugin to serve a core key in place of the core handler (api.md). */
export type InstallSource = (
  | { kind: 'git'; url: string; ref?: string; path?: string }
  /** A ZIP already streamed to a temporary file by the HTTP layer (size-capped). */
  | { kind: 'zip'; file: string }
  | { kind: 'local'; path: string }
) & { replaceCore?: boolean };

/** Reload: a git ref, an uploaded ZIP, or nothing (re-read the same source). */
export type ReloadSource = { kind: 'git'; ref?: string } | { kind: 'zip'; file: string } | { kind: 'same' };

export interface PluginService {
  list(query: { status?: PluginStatus; plugin_type?: PluginType; page: number; per_page: number }): Promise<{
    items: PluginView[];
    total: number;
    page: number;
    per_page: number;
  }>;
  get(id: string): Promise<PluginView>;
  install(source: InstallSource): Promise<InstalledPluginView>;
  enable(id: string): Promise<PluginView>;
  disable(id: string): Promise<PluginView>;
  reload(id: string, source: ReloadSource): Promise<InstalledPluginView>;
  setLimits(id: string, limits: Partial<ResourceLimits>): Promise<PluginView>;
  uninstall(id: string, options: { force: boolean }): Promise<void>;
  events(id: string, query: { severity?: EventSeverity; limit: number }): Promise<{ items: PluginEventRow[] }>;
  processes(id: string): Promise<{ items: ProcessView[] }>;
}

/** A page of a plugin's log: lines oldest first, and the cursor for `after` to read newer ones. */
export interface PluginLogPage {
  items: PluginLogRow[];
  next: number;
}

export interface PluginLogService {
  list(pluginId: string, query: PluginLogQuery): Promise<PluginLogPage>;
  /** New lines after `after` (unset: from now on) in batches, until `signal` aborts or the plugin goes; iterate it to free its place. */
  follow(pluginId: string, after: number | undefined, signal: AbortSignal): Promise<AsyncGenerator<PluginLogRow[]>>;
}

/**
 * A format as the API shows it: who serves the key now. A core key replaced by an active
 * plugin shows `handler_type: "wasm"`, the plugin's id and capabilities, `replaces_core: true`.
 */
export type FormatView = Omit<FormatHandlerRow, 'replaced_by'> & { repository_count: number; replaces_core: boolean };

export interface FormatTestInput {
  path: string;
  content: Uint8Array;
}

export interface FormatTestResult {
  success: boolean;
  format_key: string;
  handler_type: HandlerType;
  execution_time_ms: number;
  memory_used_bytes: number | null;
  metadata: Record<string, unknown> | null;
  validation_result: { valid: boolean; errors: string[] };
  error: string | null;
}

export interface FormatService {
  list(query: { handler_type?: HandlerType; enabled?: boolean }): Promise<{ items: FormatView[]; total: number }>;
  get(formatKey: string): Promise<FormatView>;
  enable(formatKey: string): Promise<FormatView>;
  disable(formatKey: string): Promise<FormatView>;
  /** 200 when `success`, else the HTTP layer answers 422 with the same body. */
  test(formatKey: string, input: FormatTestInput): Promise<FormatTestResult>;
}

export interface Principal {
  role: Role;
  /** Token id, or 'bootstrap' for ADMIN_TOKEN / ADMIN_PASSWORD. */
  id: string;
  name: string;
}

/** This node's plugins in `/health`: those meant to be active and not running here are named in `failing`. */
export interface PluginsHealth {
  ok: boolean;
  /** Plugins whose desired status is active. */
  active: number;
  /** Of those, running on this node. */
  running: number;
  /** Of those, quarantined or failed to start on this node. */
  error: number;
  failing: Array<{ id: string; name: string; version: string; state: (typeof FAILING_PLUGIN_STATES)[number]; message: string | null }>;
}

export const HEALTH_STATUSES = ['ok', 'degraded'] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

export interface HealthReport {
  status: HealthStatus;
  checks: {
    database: { ok: boolean; error?: string };
    plugins: PluginsHealth;
    /** Absent when the database does not answer. */
    cluster?: ClusterHealth;
  };
}

/** `starting` until the node's first reconcile is done; `stopping` from SIGTERM on. */
export const READINESS_STATES = ['starting', 'ready', 'stopping'] as const;
export type Readiness = (typeof READINESS_STATES)[number];

export interface HealthService {
  health(): Promise<HealthReport>;
  readiness(): Readiness;
}

/** A node of the cluster, as `GET /api/v1/cluster/nodes` lists it. */
export type ClusterNodeView = NodeView;

export interface ClusterService {
  /** Every node the database knows, ordered by node id. */
  nodes(): Promise<ClusterNodeView[]>;
}

/** The repository object of the contract: its row as stored. */
export type RepositoryView = RepositoryRow;

export interface NewRepositoryInput {
  key: string;
  format: string;
  description?: string;
  public?: boolean;
}

export interface RepositoryService {
  create(input: NewRepositoryInput): Promise<RepositoryView>;
  /** Ordered by key; `format` filters (a format with no handler and no repository is a 400). */
  list(query: { format?: string }): Promise<{ items: RepositoryView[]; total: number }>;
  get(key: string): Promise<RepositoryView>;
  delete(key: string): Promise<void>;
}

/** The artifact object of the contract: its row without the store's ids. */
export type ArtifactView = Omit<ArtifactRow, 'id' | 'repository_id' | 'parsed_by'>;

/** What `POST /repositories/:key/reparse` answers: how many artifacts were parsed again, and the index's state after. */
export interface ReparseResult {
  repository: string;
  artifacts: number;
  index_generated_at: string | null;
  index_error: string | null;
}

/** An index file as listed. */
export type IndexFileView = Omit<IndexFileRow, 'repository_id'>;

/** Something to send: what it is, and its bytes as a stream opened on demand. */
export interface Download {
  path: string;
  size_bytes: number;
  checksum_sha256: string;
  content_type: string;
  /** The bytes (`range`: from `start` to `end`, inclusive, inside the file); `BytesGone` (a 404) when they went away since the row was read. */
  open(range?: { start: number; end: number }): Promise<Readable>;
}

export interface UploadOptions {
  /** Replace an artifact already at the path (otherwise 409 `artifact_exists`). */
  overwrite: boolean;
  /** The request's Content-Length, when it sent one: an upload over the limit is refused before reading it. */
  declaredBytes?: number;
}

export interface ArtifactService {
  /** Validate, parse, store, re-index (waiting for the index run that includes it). */
  upload(repositoryKey: string, path: string, body: Readable, options: UploadOptions): Promise<ArtifactView>;
  list(repositoryKey: string, query: { prefix?: string }): Promise<{ items: ArtifactView[]; total: number }>;
  download(repositoryKey: string, path: string): Promise<Download>;
  delete(repositoryKey: string, path: string): Promise<void>;
  listIndex(repositoryKey: string): Promise<{ items: IndexFileView[]; total: number; generated_at: string | null; error: string | null }>;
  indexFile(repositoryKey: string, path: string): Promise<Download>;
  /**
   * Every artifact of the repository parsed again by its handler, then the index rebuilt
   * (admin); answers once that run is over, on whichever node ran it.
   */
  reparse(repositoryKey: string): Promise<ReparseResult>;
  /** Whether anonymous callers may read the repository (it exists and is public). */
  isPublic(repositoryKey: string): Promise<boolean>;
}

/** A native request as the HTTP layer hands it over: the body is read once the service knows its limit. */
export interface NativeRequest extends Omit<HttpRequest, 'body'> {
  /** The whole body, refused (413 naming `limit.reason`) past `limit.bytes`. */
  readBody(limit: BodyLimit): Promise<Uint8Array>;
}

export interface BodyLimit {
  bytes: number;
  /** Why the limit is what it is, for the 413's message. */
  reason: string;
}

/** The plugin's answer, and whether the repository it speaks for is public (for caching). */
export interface NativeAnswer extends HttpResponse {
  repositoryPublic: boolean;
}

export interface NativeProtocolService {
  /**
   * `request.path` is below the repository, starting with `/`; `request.headers` were already
   * filtered by the HTTP layer. `externalBase`: the service's external base URL
   * (`https://host:port`, or PUBLIC_URL), for the repository context's URLs.
   */
  handle(formatKey: string, repositoryKey: string, request: NativeRequest, externalBase: string): Promise<NativeAnswer>;
}
