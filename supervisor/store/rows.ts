/**
 * The tables' columns and how their values cross the driver boundary, in one place for both
 * engines: booleans are INTEGER 0/1, objects and arrays are JSON text, BIGINT may come
 * back as a string (pg) and binaries as a Buffer. Timestamps and ids are TEXT both ways.
 */
import type { Row, SqlValue } from './db.js';
import type {
  ApiTokenRow,
  ArtifactRow,
  ClusterNodeRow,
  FormatHandlerRow,
  IndexFileRow,
  PluginEventRow,
  PluginLogRow,
  PluginNodeStateRow,
  PluginProcessRow,
  PluginRow,
  RepositoryRow,
} from './store.js';

type ColumnKind = 'text' | 'nullable text' | 'integer' | 'nullable integer' | 'nullable real' | 'boolean' | 'json' | 'nullable json';

type Column<T> = Extract<keyof T, string>;

export interface Table<T> {
  readonly name: string;
  /** Every field of the row type, with how it is stored. */
  readonly columns: { readonly [K in Column<T>]-?: ColumnKind };
  /** Columns an update never changes, whatever the patch holds: keys and creation times. */
  readonly fixed?: readonly Column<T>[];
}

export const plugins: Table<PluginRow> = {
  name: 'plugins',
  columns: {
    id: 'text',
    name: 'text',
    version: 'text',
    display_name: 'nullable text',
    description: 'nullable text',
    author: 'nullable text',
    homepage: 'nullable text',
    license: 'nullable text',
    status: 'text',
    plugin_type: 'text',
    source_type: 'text',
    source_url: 'nullable text',
    source_ref: 'nullable text',
    source_path: 'nullable text',
    resolved_commit: 'nullable text',
    wasm_sha256: 'text',
    format_key: 'text',
    capabilities: 'json',
    resource_limits: 'json',
    limits_override: 'nullable json',
    manifest: 'json',
    error_message: 'nullable text',
    generation: 'integer',
    installed_at: 'text',
    enabled_at: 'nullable text',
    updated_at: 'text',
  },
  fixed: ['id', 'installed_at'],
};

export const formatHandlers: Table<FormatHandlerRow> = {
  name: 'format_handlers',
  columns: {
    id: 'text',
    format_key: 'text',
    plugin_id: 'nullable text',
    handler_type: 'text',
    display_name: 'text',
    description: 'nullable text',
    extensions: 'json',
    is_enabled: 'boolean',
    priority: 'integer',
    capabilities: 'json',
    replaced_by: 'nullable text',
    created_at: 'text',
    updated_at: 'text',
  },
  // A handler stays bound to its format and its owner; only its settings change (a core
  // row's `replaced_by` only through `claimCoreFormat`).
  fixed: ['id', 'format_key', 'plugin_id', 'handler_type', 'replaced_by', 'created_at'],
};

export const pluginEvents: Table<PluginEventRow> = {
  name: 'plugin_events',
  columns: {
    id: 'text',
    plugin_id: 'text',
    node_id: 'nullable text',
    event_type: 'text',
    severity: 'text',
    message: 'text',
    details: 'json',
    created_at: 'text',
  },
};

export const apiTokens: Table<ApiTokenRow> = {
  name: 'api_tokens',
  columns: {
    id: 'text',
    name: 'text',
    role: 'text',
    token_hash: 'text',
    created_at: 'text',
    last_used_at: 'nullable text',
    revoked_at: 'nullable text',
  },
};

export const repositories: Table<RepositoryRow> = {
  name: 'repositories',
  columns: {
    id: 'text',
    key: 'text',
    format: 'text',
    description: 'nullable text',
    public: 'boolean',
    index_generated_at: 'nullable text',
    index_error: 'nullable text',
    created_at: 'text',
    updated_at: 'text',
  },
  fixed: ['id', 'key', 'format', 'created_at'],
};

export const artifacts: Table<ArtifactRow> = {
  name: 'artifacts',
  columns: {
    id: 'text',
    repository_id: 'text',
    path: 'text',
    size_bytes: 'integer',
    checksum_sha256: 'text',
    version: 'nullable text',
    content_type: 'text',
    metadata: 'json',
    parsed_by: 'nullable text',
    created_at: 'text',
    updated_at: 'text',
  },
  fixed: ['id', 'repository_id', 'path', 'created_at'],
};

export const indexFiles: Table<IndexFileRow> = {
  name: 'index_files',
  columns: {
    repository_id: 'text',
    path: 'text',
    size_bytes: 'integer',
    checksum_sha256: 'text',
    content_type: 'text',
  },
};

export const pluginNodeStates: Table<PluginNodeStateRow> = {
  name: 'plugin_node_states',
  columns: {
    plugin_id: 'text',
    node_id: 'text',
    version: 'text',
    generation: 'integer',
    state: 'text',
    pids: 'json',
    error_message: 'nullable text',
    updated_at: 'text',
  },
};

export const pluginProcesses: Table<PluginProcessRow> = {
  name: 'plugin_processes',
  columns: {
    node_id: 'text',
    plugin_id: 'text',
    slot: 'integer',
    pid: 'nullable integer',
    version: 'text',
    state: 'text',
    started_at: 'nullable text',
    rss_bytes: 'nullable integer',
    cpu_percent: 'nullable real',
    wasm_memory_bytes: 'nullable integer',
    in_flight: 'integer',
    calls_total: 'integer',
    errors_total: 'integer',
    restarts: 'integer',
    last_exit: 'nullable json',
    updated_at: 'text',
  },
};

export const pluginLogs: Table<PluginLogRow> = {
  name: 'plugin_logs',
  columns: {
    seq: 'integer',
    time: 'text',
    node_id: 'text',
    pid: 'nullable integer',
    version: 'text',
    stream: 'text',
    text: 'text',
  },
};

export const clusterNodes: Table<ClusterNodeRow> = {
  name: 'cluster_nodes',
  columns: {
    node_id: 'text',
    incarnation: 'text',
    url: 'nullable text',
    version: 'text',
    state: 'text',
    started_at: 'text',
    last_seen_at: 'text',
  },
};

/** A result row as the row type, every column checked against its kind. */
export function decode<T>(table: Table<T>, row: Row): T {
  const decoded: Record<string, unknown> = {};
  for (const [column, kind] of columnsOf(table)) {
    decoded[column] = decodeValue(kind, row[column], `${table.name}.${column}`);
  }
  return decoded as T;
}

/**
 * The fields of `values` that are columns of `table`, encoded, in the table's column order.
 * Fields that are `undefined` are left out, and so are the fixed columns when `forUpdate`.
 */
export function encode<T>(table: Table<T>, values: Partial<T>, forUpdate = false): Array<[string, SqlValue]> {
  const encoded: Array<[string, SqlValue]> = [];
  for (const [column, kind] of columnsOf(table)) {
    const value = values[column];
    if (value === undefined || (forUpdate && table.fixed?.includes(column))) continue;
    encoded.push([column, encodeValue(kind, value, `${table.name}.${column}`)]);
  }
  return encoded;
}

/** A BIGINT or COUNT(*) result: a number from SQLite, a decimal string from pg. */
export function toNumber(value: unknown, what: string): number {
  const number = typeof value === 'string' || typeof value === 'bigint' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number)) {
    throw new TypeError(`${what}: expected an integer, got ${describe(value)}`);
  }
  return number;
}

/** A BYTEA result as a plain Uint8Array of its own, not a Buffer that may share a pool. */
export function toBytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${what}: expected bytes, got ${describe(value)}`);
  return new Uint8Array(value);
}

function columnsOf<T>(table: Table<T>): Array<[Column<T>, ColumnKind]> {
  return Object.entries(table.columns) as Array<[Column<T>, ColumnKind]>;
}

function decodeValue(kind: ColumnKind, value: unknown, what: string): unknown {
  if (value === null && kind.startsWith('nullable ')) return null;
  switch (kind) {
    case 'text':
    case 'nullable text':
      if (typeof value === 'string') return value;
      break;
    case 'integer':
    case 'nullable integer':
      return toNumber(value, what);
    case 'nullable real':
      if (typeof value === 'number') return value;
      break;
    case 'boolean':
      if (value === 0 || value === 1) return value === 1;
      break;
    case 'json':
    case 'nullable json':
      if (typeof value === 'string') return JSON.parse(value);
      break;
  }
  throw new TypeError(`${what}: expected ${kind}, got ${describe(value)}`);
}

function encodeValue(kind: ColumnKind, value: unknown, what: string): SqlValue {
  if (value === null) {
    if (kind.startsWith('nullable ')) return null;
    throw new TypeError(`${what} cannot be null`);
  }
  switch (kind) {
    case 'text':
    case 'nullable text':
      if (typeof value === 'string') return value;
      break;
    case 'integer':
    case 'nullable integer':
      if (Number.isSafeInteger(value)) return value as number;
      break;
    case 'nullable real':
      if (typeof value === 'number' && Number.isFinite(value)) return value;
      break;
    case 'boolean':
      if (typeof value === 'boolean') return value ? 1 : 0;
      break;
    case 'json':
    case 'nullable json':
      return JSON.stringify(value);
  }
  throw new TypeError(`${what}: expected ${kind}, got ${describe(value)}`);
}

function describe(value: unknown): string {
  return value === null ? 'NULL' : typeof value;
}
