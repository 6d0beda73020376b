/**
 * The store: what the supervisor keeps, behind one interface with two engines
 * (better-sqlite3, the embedded default, and PostgreSQL for production). Services depend on
 * this file only; `openStore()` in ./open.ts picks the engine from the configuration.
 *
 * Rows are returned as plain objects in the API's own shapes (snake_case, RFC 3339 UTC
 * strings, JSON columns parsed), so routes can serialize them without remapping.
 *
 * Failures the caller can act on are the engine-independent errors re-exported below:
 * `UniqueViolation` (which table and column) and `DatabaseUnavailable`.
 */

export { DatabaseUnavailable, UniqueViolation } from './errors.js';

import type { ChildState, LastExit } from '../runtime/child.js';
import type { LogStream } from '../../protocol/log-lines.js';

export { LOG_STREAMS, type LogStream } from '../../protocol/log-lines.js';

// The contract's terms for stored columns, each declared once: the types, the routes' checks
// and the OpenAPI document (http/openapi.ts) all derive from these arrays.
export const PLUGIN_STATUSES = ['active', 'disabled', 'error'] as const;
export type PluginStatus = (typeof PLUGIN_STATUSES)[number];
export const PLUGIN_TYPES = ['format_handler'] as const;
export type PluginType = (typeof PLUGIN_TYPES)[number];
export const SOURCE_TYPES = ['core', 'wasm_git', 'wasm_zip', 'wasm_local'] as const;
export type SourceType = (typeof SOURCE_TYPES)[number];
export const HANDLER_TYPES = ['core', 'wasm'] as const;
export type HandlerType = (typeof HANDLER_TYPES)[number];
export const EVENT_SEVERITIES = ['info', 'warning', 'error'] as const;
export type EventSeverity = (typeof EVENT_SEVERITIES)[number];
export const ROLES = ['admin', 'reader'] as const;
export type Role = (typeof ROLES)[number];
/** The contract's event types. */
export const EVENT_TYPES = [
  'installed',
  'enabled',
  'disabled',
  'reloaded',
  'reload_failed',
  'uninstalled',
  'crashed',
  'restarted',
  'quarantined',
  'limit_exceeded',
  'error',
  'format_handler_enabled',
  'format_handler_disabled',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface CapabilitySet {
  parse_metadata: boolean;
  validate_artifact: boolean;
  generate_index: boolean;
  handle_request: boolean;
}

export interface ResourceLimits {
  memory_mb: number;
  timeout_secs: number;
  instances: number;
}

export interface PluginRow {
  id: string;
  name: string;
  version: string;
  display_name: string | null;
  description: string | null;
  author: string | null;
  homepage: string | null;
  license: string | null;
  status: PluginStatus;
  plugin_type: PluginType;
  source_type: SourceType;
  source_url: string | null;
  source_ref: string | null;
  /** Git installs: the folder of the repository holding plugin.toml, for reloads. */
  source_path: string | null;
  resolved_commit: string | null;
  wasm_sha256: string;
  format_key: string;
  capabilities: CapabilitySet;
  /** The limits in force: manifest or defaults, bounded by the caps, or the admin's override. */
  resource_limits: ResourceLimits;
  /** Set by `PUT /:id/limits`; survives reloads. */
  limits_override: Partial<ResourceLimits> | null;
  /** The parsed plugin.toml, kept for reloads and display. */
  manifest: Record<string, unknown>;
  error_message: string | null;
  /** Counts the admin's changes to the plugin; a node retries a failed start at a newer one. */
  generation: number;
  installed_at: string;
  enabled_at: string | null;
  updated_at: string;
}

/** What a node's processes of a plugin are doing; `quarantined` and `error` are that node's own failures. */
export const NODE_PLUGIN_STATES = ['starting', 'running', 'stopped', 'error', 'quarantined'] as const;
export type NodePluginState = (typeof NODE_PLUGIN_STATES)[number];

/** One node's actual state of one plugin, written by that node only. */
export interface PluginNodeStateRow {
  plugin_id: string;
  node_id: string;
  version: string;
  /** The plugin's generation this state answers. */
  generation: number;
  state: NodePluginState;
  pids: number[];
  error_message: string | null;
  updated_at: string;
}

/** One process of a plugin on a node, as the processes endpoint shows it. */
export interface PluginProcessRow {
  node_id: string;
  plugin_id: string;
  /** The instance's number within its version. */
  slot: number;
  pid: number | null;
  version: string;
  state: ChildState;
  started_at: string | null;
  rss_bytes: number | null;
  cpu_percent: number | null;
  wasm_memory_bytes: number | null;
  in_flight: number;
  calls_total: number;
  errors_total: number;
  restarts: number;
  last_exit: ProcessExit | null;
  updated_at: string;
}

/** How a process last ended other than by a stop: the runtime's `LastExit`, stored as JSON. */
export type ProcessExit = LastExit;


/** One line a plugin's process wrote (or its host wrote about it), numbered per plugin. */
export interface PluginLogRow {
  seq: number;
  time: string;
  node_id: string;
  pid: number | null;
  version: string;
  stream: LogStream;
  text: string;
}

export type NewPluginLogLine = Omit<PluginLogRow, 'seq'>;

/** Which of a plugin's lines to read: the newest `limit` matching, returned oldest first. */
export interface PluginLogQuery {
  /** Only lines numbered above this. */
  after?: number;
  /** Only lines written at or after this time (RFC 3339 UTC). */
  since?: string;
  stream?: LogStream;
  limit: number;
  /** The oldest `limit` matching instead (following a log from a cursor). */
  oldest?: boolean;
}

/** How much of a plugin's log is kept: the newest lines within both bounds. */
export interface LogRetention {
  lines: number;
  bytes: number;
}

export interface FormatHandlerRow {
  id: string;
  format_key: string;
  /** null for core handlers. */
  plugin_id: string | null;
  handler_type: HandlerType;
  display_name: string;
  description: string | null;
  extensions: string[];
  is_enabled: boolean;
  priority: number;
  capabilities: CapabilitySet;
  /**
   * A core row only (migration 010): the plugin installed with `replace_core` to serve this
   * key. It serves it while it is active; otherwise the core handler does. Null when none.
   */
  replaced_by: string | null;
  created_at: string;
  updated_at: string;
}

export interface PluginEventRow {
  id: string;
  plugin_id: string;
  /** The node whose processes the event is about; null for cluster-wide events. */
  node_id: string | null;
  event_type: EventType;
  severity: EventSeverity;
  message: string;
  details: Record<string, unknown>;
  created_at: string;
}

export interface ApiTokenRow {
  id: string;
  name: string;
  role: Role;
  token_hash: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** A repository: a named collection of artifacts of one format. */
export interface RepositoryRow {
  id: string;
  /** `^[a-z0-9][a-z0-9._-]{0,63}$`, unique; names the repository in URLs. */
  key: string;
  /** A format key; the format's handler may be gone (its plugin force-uninstalled). */
  format: string;
  description: string | null;
  public: boolean;
  /** When the handler last generated the index; null before the first run, or when the format has none. */
  index_generated_at: string | null;
  /** Why the latest index run failed; null when it succeeded. */
  index_error: string | null;
  created_at: string;
  updated_at: string;
}

/** An artifact: a file of a repository, its bytes a blob named by `checksum_sha256`. */
export interface ArtifactRow {
  id: string;
  repository_id: string;
  /** Normalised, relative to the repository: `a/b/c.tgz`. */
  path: string;
  size_bytes: number;
  /** Lowercase hex; the blob's name. */
  checksum_sha256: string;
  version: string | null;
  content_type: string;
  /** The metadata record the format handler returned (`properties`: an object of strings, 1.1.0). */
  metadata: Record<string, unknown>;
  /** The handler that parsed it (`FormatHandler.parserId`); null: stored before 008, to be parsed again. */
  parsed_by: string | null;
  created_at: string;
  updated_at: string;
}

/** One file of a repository's generated index, its bytes a blob. */
export interface IndexFileRow {
  repository_id: string;
  path: string;
  size_bytes: number;
  checksum_sha256: string;
  content_type: string;
}

/**
 * A supervisor sharing the database, as it last recorded itself. Its times are the
 * database's clock (see `Db.clock`), so nodes whose own clocks differ compare alike.
 */
export interface ClusterNodeRow {
  node_id: string;
  /** New at every start of the node. */
  incarnation: string;
  url: string | null;
  version: string;
  /** `lost` is not stored: it is an `up` row not seen for longer than the node timeout. */
  state: 'up' | 'leaving';
  started_at: string;
  last_seen_at: string;
}

export interface PluginListQuery {
  status?: PluginStatus;
  plugin_type?: PluginType;
  /** 1-based. */
  page: number;
  per_page: number;
}

export interface FormatListQuery {
  handler_type?: HandlerType;
  enabled?: boolean;
}

/** A new plugin is at generation 1 unless said otherwise. */
export type NewPlugin = Omit<PluginRow, 'installed_at' | 'updated_at' | 'generation'> & { generation?: number };
export type PluginPatch = Partial<Omit<PluginRow, 'id' | 'installed_at' | 'updated_at'>>;
export type NewFormatHandler = Omit<FormatHandlerRow, 'created_at' | 'updated_at' | 'replaced_by'>;
export type FormatHandlerPatch = Partial<Pick<FormatHandlerRow, 'is_enabled' | 'display_name' | 'description' | 'extensions' | 'capabilities' | 'priority'>>;
export type NewEvent = Omit<PluginEventRow, 'id' | 'created_at' | 'node_id'> & { node_id?: string | null };
export type NewRepository = Omit<RepositoryRow, 'created_at' | 'updated_at' | 'index_generated_at' | 'index_error'>;
/** `parsed_by` left out: no handler is known to have parsed it (it is parsed again). */
export type NewArtifact = Omit<ArtifactRow, 'created_at' | 'updated_at' | 'parsed_by'> & { parsed_by?: string | null };
export type RepositoryIndexState = Pick<RepositoryRow, 'index_generated_at' | 'index_error'>;
export type NewToken = Omit<ApiTokenRow, 'created_at' | 'last_used_at' | 'revoked_at'>;
export type NewClusterNode = Pick<ClusterNodeRow, 'node_id' | 'incarnation' | 'url' | 'version'>;

/** A node's promise to commit rows naming a blob soon: the blob is not removed meanwhile. */
export interface BlobPin {
  id: string;
  sha256: string;
  node_id: string;
  /** RFC 3339 UTC, on the database's clock; a pin its node never released (it died) lapses then. */
  expires_at: string;
}

/** A repository's index run counters (migration 006): requests taken, and the request the last finished run covered. */
export interface IndexGenerations {
  requested: number;
  built: number;
}

/** What `Store.tryExclusive` did: ran the work (holding the lock) and what it returned, or not (another holds the lock). */
export type Exclusive<T> = { ran: true; value: T } | { ran: false };

/** Operations available both on the store and inside a transaction. */
export interface StoreOps {
  getPlugin(id: string): Promise<PluginRow | undefined>;
  getPluginByName(name: string): Promise<PluginRow | undefined>;
  getPluginByFormatKey(formatKey: string): Promise<PluginRow | undefined>;
  /** Ordered by name. */
  listPlugins(query: PluginListQuery): Promise<{ items: PluginRow[]; total: number }>;
  /** Every plugin, for restarting active ones at start. */
  allPlugins(): Promise<PluginRow[]>;
  /**
   * Its `wasm_sha256` must name a binary already put. Throws `UniqueViolation` (column
   * `name`, `format_key` or `id`) when another plugin has the same.
   */
  insertPlugin(plugin: NewPlugin): Promise<PluginRow>;
  /** Sets `updated_at`; returns the updated row, or undefined when there is none. */
  updatePlugin(id: string, patch: PluginPatch): Promise<PluginRow | undefined>;
  /** Its format handler goes with it; its events and binary stay. */
  deletePlugin(id: string): Promise<boolean>;

  /**
   * A plugin version's component, by SHA-256 (lowercase hex): the copy every supervisor can
   * read. Putting one already there does nothing; a digest that is not the bytes' throws.
   */
  putBinary(sha256: string, wasm: Uint8Array): Promise<void>;
  getBinary(sha256: string): Promise<Uint8Array | undefined>;
  /** Removes the binary when no plugin row references it any more. */
  deleteBinaryIfUnused(sha256: string): Promise<void>;

  getFormatHandler(formatKey: string): Promise<FormatHandlerRow | undefined>;
  /** Ordered by format key. */
  listFormatHandlers(query: FormatListQuery): Promise<FormatHandlerRow[]>;
  /** Throws `UniqueViolation` (column `format_key`) when the key has a handler already. */
  insertFormatHandler(handler: NewFormatHandler): Promise<FormatHandlerRow>;
  /** Sets `updated_at`; returns the updated row, or undefined when there is none. */
  updateFormatHandler(formatKey: string, patch: FormatHandlerPatch): Promise<FormatHandlerRow | undefined>;
  deleteFormatHandler(formatKey: string): Promise<boolean>;
  /**
   * Names `pluginId` as the plugin replacing the core handler of `formatKey`; false when the
   * key has no core handler or another plugin replaces it already (one claim wins, on any node).
   */
  claimCoreFormat(formatKey: string, pluginId: string): Promise<boolean>;
  countEnabledFormatHandlers(): Promise<number>;

  /** Events are never deleted with their plugin: they are the audit log. */
  addEvent(event: NewEvent): Promise<PluginEventRow>;
  /** Newest first. */
  listEvents(pluginId: string, query: { severity?: EventSeverity; limit: number }): Promise<PluginEventRow[]>;
  hasEvents(pluginId: string): Promise<boolean>;

  /** Inserts or replaces the node's row of the plugin; nothing when the plugin is gone. */
  putNodeState(state: Omit<PluginNodeStateRow, 'updated_at'>): Promise<void>;
  /**
   * Node states of nodes that are `up` and were seen at or after `seenSince`, ordered by
   * node id; of one plugin, or of every plugin.
   */
  listNodeStates(query: { pluginId?: string; seenSince: string }): Promise<PluginNodeStateRow[]>;
  /** One node's own states, whatever its liveness. */
  nodeStatesOf(nodeId: string): Promise<PluginNodeStateRow[]>;
  /** Makes `processes` the node's whole process list (rows of plugins that are gone are left out). */
  replaceNodeProcesses(nodeId: string, processes: Array<Omit<PluginProcessRow, 'updated_at'>>): Promise<void>;
  /** The processes of a plugin on live nodes (as `listNodeStates`), by node, version and slot. */
  listProcesses(pluginId: string, seenSince: string): Promise<PluginProcessRow[]>;
  /** Removes a node's states and processes (it stopped cleanly, or starts afresh). */
  /**
   * Appends lines to a plugin's log, numbered after its last line on any node, then trims
   * the log to `retention`; returns how many were written (none once the plugin is gone).
   * Run it inside `Store.transaction`: the counter row serializes the writers.
   */
  appendPluginLogs(pluginId: string, lines: NewPluginLogLine[], retention: LogRetention): Promise<number>;
  listPluginLogs(pluginId: string, query: PluginLogQuery): Promise<PluginLogRow[]>;
  deleteNodeRuntime(nodeId: string): Promise<void>;


  /** Throws `UniqueViolation` (column `token_hash`) for a hash already stored. */
  insertToken(token: NewToken): Promise<ApiTokenRow>;
  /** Only tokens not revoked. */
  findTokenByHash(tokenHash: string): Promise<ApiTokenRow | undefined>;
  /** Revoked ones included, oldest first. */
  listTokens(): Promise<ApiTokenRow[]>;
  /** False when there is no such token, or it was revoked already. */
  revokeToken(id: string): Promise<boolean>;
  touchToken(id: string): Promise<void>;

  /** Throws `UniqueViolation` (column `key` or `id`) when another repository has the same. */
  insertRepository(repository: NewRepository): Promise<RepositoryRow>;
  getRepository(key: string): Promise<RepositoryRow | undefined>;
  /** Ordered by key. */
  listRepositories(query: { format?: string }): Promise<RepositoryRow[]>;
  deleteRepository(key: string): Promise<boolean>;
  /** The repositories using a format, ordered by key: uninstall's dependents. */
  repositoriesForFormat(format: string): Promise<Array<{ id: string; key: string }>>;
  getRepositoryById(id: string): Promise<RepositoryRow | undefined>;
  /** Records an index run's outcome; leaves `updated_at` alone (the repository itself did not change). */
  setRepositoryIndexState(id: string, state: RepositoryIndexState): Promise<void>;
  /** The base URL the repository's last index run used (null before the first run since 008). */
  getIndexBaseUrl(id: string): Promise<string | null>;
  setIndexBaseUrl(id: string, baseUrl: string): Promise<void>;
  /** Takes the next index run request of the repository: its number; undefined when there is no such repository. */
  requestIndexRun(id: string): Promise<number | undefined>;
  getIndexGenerations(id: string): Promise<IndexGenerations | undefined>;
  /** Records that a run covering requests up to `generation` is over (never lowers it). */
  setIndexBuilt(id: string, generation: number): Promise<void>;

  getArtifact(repositoryId: string, path: string): Promise<ArtifactRow | undefined>;
  /** Ordered by path (JavaScript string order, the same on both engines); `prefix` keeps the paths starting with it. */
  listArtifacts(repositoryId: string, query: { prefix?: string }): Promise<ArtifactRow[]>;
  /**
   * The repository's artifact list generation (migration 009), moved after every insert,
   * replace, delete and re-parse of its artifacts (in their transaction when there is one), so
   * a list read under a number holds every write up to it. Undefined when there is no such repository.
   */
  artifactsGeneration(repositoryId: string): Promise<number | undefined>;
  /** Throws `UniqueViolation` (column `repository_id, path`) when the path is taken. */
  insertArtifact(artifact: NewArtifact): Promise<ArtifactRow>;
  /** Replaces the artifact at the same repository and path (keeping its id and creation time); undefined when there is none. */
  replaceArtifact(artifact: NewArtifact): Promise<ArtifactRow | undefined>;
  /** Returns the deleted row, or undefined when there was none. */
  deleteArtifact(repositoryId: string, path: string): Promise<ArtifactRow | undefined>;
  /** Whether any artifact of the repository was parsed by another handler than `parserId` (or by none known). */
  hasArtifactsNotParsedBy(repositoryId: string, parserId: string): Promise<boolean>;
  /**
   * A new parse of an artifact, written only while the row still holds the same bytes (an
   * overwrite meanwhile wins); returns whether it was written.
   */
  updateArtifactParse(id: string, checksumSha256: string, parse: Pick<ArtifactRow, 'version' | 'content_type' | 'metadata' | 'parsed_by'>): Promise<boolean>;
  /** Marks every artifact of the repository as to be parsed again; returns how many there are. */
  forgetArtifactParses(repositoryId: string): Promise<number>;
  /**
   * Locks the blob's row (creating it) until the transaction ends, so that pins and removals
   * of one blob, from any node, take turns. Only inside a transaction.
   */
  lockBlob(sha256: string): Promise<void>;
  /** Inside the transaction that locked the blob. */
  pinBlob(pin: BlobPin): Promise<void>;
  unpinBlob(id: string): Promise<void>;
  /**
   * Whether a pin not lapsed (by the database's clock), an artifact or an index file of any
   * repository names the blob. One statement, so one snapshot: a pin released after its
   * rows were committed is either still seen, or its rows are.
   */
  blobInUse(sha256: string): Promise<boolean>;
  /** Drops the blob's row and its lapsed pins, once the blob is removed (inside the transaction that locked it). */
  forgetBlob(sha256: string): Promise<void>;
  /** Up to `limit` blobs with a row in `blobs` that no live pin, artifact or index file names: what a crash left behind. */
  unusedBlobs(limit: number): Promise<string[]>;
  /** Every blob a repository's artifacts and index files name, distinct: what its deletion may free. */
  repositoryBlobs(repositoryId: string): Promise<string[]>;

  getIndexFile(repositoryId: string, path: string): Promise<IndexFileRow | undefined>;
  /** Ordered by path. */
  listIndexFiles(repositoryId: string): Promise<IndexFileRow[]>;
  /** Makes `files` the repository's whole index (run it in a transaction with the index state). */
  replaceIndexFiles(repositoryId: string, files: IndexFileRow[]): Promise<void>;

  /** The database's clock now (see `Db.clock`). */
  databaseTime(): Promise<string>;
  getClusterNode(nodeId: string): Promise<ClusterNodeRow | undefined>;
  /** Ordered by node id. */
  listClusterNodes(): Promise<ClusterNodeRow[]>;
  /**
   * Inserts the node's row, or takes over the row of its id whatever incarnation holds it:
   * `up`, started and seen now.
   */
  putClusterNode(node: NewClusterNode): Promise<ClusterNodeRow>;
  /** A heartbeat: seen now. False when the row is gone or another incarnation holds it. */
  touchClusterNode(nodeId: string, incarnation: string): Promise<boolean>;
  /** A clean stop: `leaving`, seen now. False when the row is gone or another incarnation holds it. */
  markClusterNodeLeaving(nodeId: string, incarnation: string): Promise<boolean>;
  /** Removes the rows (other than `keep`'s) last seen before `cutoff`; returns their ids. */
  deleteClusterNodesSeenBefore(cutoff: string, keep: string): Promise<string[]>;
}

export interface Store extends StoreOps {
  readonly engine: 'sqlite' | 'postgres';
  /**
   * Runs `work` in one database transaction: everything it wrote is committed together,
   * or, when it throws, nothing is. Calls on the store outside `work` wait for it (SQLite)
   * or run on other connections (PostgreSQL). Inside `work`, use `tx`: on SQLite a call
   * on the store itself would wait for `work` forever, so it throws instead.
   */
  transaction<T>(work: (tx: StoreOps) => Promise<T>): Promise<T>;
  /**
   * Runs `work` holding the lock `name` across every supervisor sharing the database
   * (PostgreSQL: a session advisory lock, keyed by the schema and the name, on a connection
   * of its own; SQLite: one supervisor per database, so a lock of this process), or, when
   * another holds it, does not run it and returns at once. A holder that dies releases it.
   */
  tryExclusive<T>(name: string, work: () => Promise<T>): Promise<Exclusive<T>>;
  /** A cheap round trip, for `GET /health`; throws `DatabaseUnavailable`. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The 13 core format keys, seeded as core format handlers by the first migration. */
export const CORE_FORMAT_KEYS = [
  'maven',
  'npm',
  'pypi',
  'nuget',
  'cargo',
  'go',
  'oci',
  'helm',
  'debian',
  'rpm',
  'rubygems',
  'conan',
  'generic',
] as const;
export type CoreFormatKey = (typeof CORE_FORMAT_KEYS)[number];
