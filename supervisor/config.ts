/**
 * Environment → typed, validated settings. Read once at start; every other module gets
 * its settings from here, never from `process.env`.
 */
import os from 'node:os';
import path from 'node:path';

export interface LimitSettings {
  memoryMb: number;
  timeoutSecs: number;
  instances: number;
}

export interface Config {
  port: number;
  host: string;
  /** Database, plugin binaries and files, transpile cache. */
  dataDir: string;
  /** `postgres://...` selects PostgreSQL; undefined means SQLite in `dataDir`. */
  databaseUrl: string | undefined;
  adminToken: string | undefined;
  adminPassword: string | undefined;
  /** When set, `GET /metrics` needs `Authorization: Bearer <this>`; unset, it is anonymous. */
  metricsToken: string | undefined;
  plugins: {
    requireSigned: boolean;
    /** Raw 32-byte Ed25519 public keys. */
    trustedPublicKeys: Buffer[];
    /** Git installs may reach loopback and private addresses (on-prem Git, tests). */
    gitAllowPrivate: boolean;
    /** Folders local installs may read. */
    localRoots: string[];
    /** Filled in where a manifest says nothing. */
    defaultLimits: LimitSettings;
    /** Upper bounds of what a manifest (not an admin) may ask for. */
    maxLimits: LimitSettings;
    /** Largest ZIP upload accepted, bytes. */
    maxZipBytes: number;
  };
  artifacts: {
    /** Largest artifact upload accepted, bytes (a plugin's memory may set a lower bound). */
    maxUploadBytes: number;
  };
  /** Trust X-Forwarded-Proto/Host when building external URLs. */
  trustProxy: boolean;
  /**
   * The service's external base URL (`https://repo.example.com` or with a path prefix), the
   * same on every node, without a trailing slash: the URLs handed to plugins. Null: the
   * request's own scheme and (allowed) Host.
   */
  publicUrl: string | null;
  /**
   * The base URL of the repository context handed to plugins by index runs, which have no
   * request to take an address from: PUBLIC_URL, else `http://<HOST>:<PORT>` (`localhost` for
   * a wildcard HOST), which only clients on this machine can use: the supervisor warns at start.
   */
  indexBaseUrl: string;
  /** Whether `indexBaseUrl` is the fallback, not PUBLIC_URL. */
  indexBaseUrlIsFallback: boolean;
  /**
   * Host names requests may name (Host, or X-Forwarded-Host behind a trusted proxy), with any
   * port, lowercase, IPv6 without brackets; `.example.com` also matches its subdomains, `*`
   * matches anything. Any other host is refused with 400 `invalid_host`.
   */
  allowedHosts: string[];
  logLevel: string;
  /** This node among the supervisors sharing one database (docs/cluster.md). */
  cluster: {
    /** Unique in the cluster; `^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`; default: the host name. */
    nodeId: string;
    /** How other nodes and operators reach this node; shown in `/cluster/nodes`. */
    nodeUrl: string | null;
    heartbeatMs: number;
    /** After this long without a heartbeat a node is `lost`. */
    nodeTimeoutMs: number;
    /** After this long without a heartbeat any live node deletes a node's row (and its runtime rows). */
    pruneAfterMs: number;
    /** How often a node reconciles its plugins with the desired state without being told (a safety net). */
    reconcileMs: number;
  };
  /**
   * From SIGTERM, how long the node keeps serving while `/ready` answers 503 (so a load
   * balancer stops sending to it) before it stops listening and drains its plugins.
   */
  shutdownGraceMs: number;
  /** Where blobs live: a folder (local or shared file system) or an S3 bucket. */
  blobStore: BlobStoreSettings;
  /** Plugin log lines: how many are kept per plugin, and how fast one plugin may write them on a node. */
  pluginLogs: PluginLogSettings;
}

export interface PluginLogSettings {
  /** Newest lines kept per plugin (`PLUGIN_LOG_LINES`). */
  lines: number;
  /** Newest bytes of text kept per plugin (`PLUGIN_LOG_KB`). */
  bytes: number;
  /** Lines per second one plugin may write on one node (`PLUGIN_LOG_RATE`); the excess is dropped and counted. */
  ratePerSecond: number;
  /** Lines written at once above the rate (`PLUGIN_LOG_BURST`). */
  burst: number;
}

export type BlobStoreSettings =
  | { kind: 'file'; root: string }
  | {
      kind: 's3';
      bucket: string;
      /** Key prefix inside the bucket, without leading or trailing slash; '' for none. */
      prefix: string;
      /** Undefined: the SDK's defaults (AWS). */
      endpoint: string | undefined;
      region: string | undefined;
      forcePathStyle: boolean;
    };

export const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const read = new EnvReader(env, problems);

  const defaultLimits: LimitSettings = {
    memoryMb: read.integer('PLUGINS_DEFAULT_MEMORY_MB', 64, 1, 1024),
    timeoutSecs: read.integer('PLUGINS_DEFAULT_TIMEOUT_SECS', 5, 1, 300),
    instances: read.integer('PLUGINS_DEFAULT_INSTANCES', 1, 1, 16),
  };
  const maxLimits: LimitSettings = {
    memoryMb: read.integer('PLUGINS_MAX_MEMORY_MB', 512, 1, 1024),
    timeoutSecs: read.integer('PLUGINS_MAX_TIMEOUT_SECS', 60, 1, 300),
    instances: read.integer('PLUGINS_MAX_INSTANCES', 4, 1, 16),
  };
  const dataDir = path.resolve(env.DATA_DIR || './data');
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must be a postgres:// URL (leave it unset for SQLite in DATA_DIR)');
  }

  const publicUrl = readPublicUrl(env, problems);
  const nodeUrl = env.NODE_URL || null;
  const nodeTimeoutMs = read.integer('CLUSTER_NODE_TIMEOUT_MS', 10_000, 500, 600_000);
  const port = read.integer('PORT', 8080, 0, 65535);
  const host = env.HOST || '0.0.0.0';
  const config: Config = {
    port,
    host,
    dataDir,
    databaseUrl,
    adminToken: env.ADMIN_TOKEN || undefined,
    adminPassword: env.ADMIN_PASSWORD || undefined,
    metricsToken: env.METRICS_TOKEN || undefined,
    plugins: {
      requireSigned: read.boolean('PLUGINS_REQUIRE_SIGNED', false),
      trustedPublicKeys: read.publicKeys('PLUGINS_TRUSTED_PUBKEY'),
      gitAllowPrivate: read.boolean('PLUGINS_GIT_ALLOW_PRIVATE', false),
      localRoots: read.list('PLUGINS_LOCAL_ROOTS').map((root) => path.resolve(root)),
      defaultLimits,
      maxLimits,
      maxZipBytes: read.integer('PLUGINS_MAX_ZIP_MB', 64, 1, 1024) * 1024 * 1024,
    },
    artifacts: {
      maxUploadBytes: read.integer('ARTIFACTS_MAX_MB', 256, 1, 4096) * 1024 * 1024,
    },
    trustProxy: read.boolean('TRUST_PROXY', false),
    publicUrl,
    indexBaseUrl: publicUrl ?? fallbackBaseUrl(host, port),
    indexBaseUrlIsFallback: publicUrl === null,
    allowedHosts: readAllowedHosts(env, [publicUrl, nodeUrl], problems),
    logLevel: env.LOG_LEVEL || 'info',
    cluster: {
      nodeId: readNodeId(env, problems),
      nodeUrl,
      heartbeatMs: read.integer('CLUSTER_HEARTBEAT_MS', 2000, 100, 60_000),
      nodeTimeoutMs,
      pruneAfterMs: read.integer('CLUSTER_NODE_PRUNE_MS', nodeTimeoutMs * 10, 1000, 30 * 24 * 3600_000),
      reconcileMs: read.integer('CLUSTER_RECONCILE_MS', 5000, 100, 600_000),
    },
    shutdownGraceMs: read.integer('SHUTDOWN_GRACE_MS', 0, 0, 600_000),
    blobStore: readBlobStore(env, dataDir, read, problems),
    pluginLogs: {
      lines: read.integer('PLUGIN_LOG_LINES', 1000, 10, 1_000_000),
      bytes: read.integer('PLUGIN_LOG_KB', 1024, 16, 1024 * 1024) * 1024,
      ratePerSecond: read.integer('PLUGIN_LOG_RATE', 200, 1, 100_000),
      burst: read.integer('PLUGIN_LOG_BURST', 400, 1, 1_000_000),
    },
  };
  if (config.cluster.nodeTimeoutMs <= config.cluster.heartbeatMs) {
    problems.push('CLUSTER_NODE_TIMEOUT_MS must be longer than CLUSTER_HEARTBEAT_MS');
  }
  if (config.cluster.pruneAfterMs <= config.cluster.nodeTimeoutMs) {
    problems.push('CLUSTER_NODE_PRUNE_MS must be longer than CLUSTER_NODE_TIMEOUT_MS');
  }
  if (config.plugins.requireSigned && config.plugins.trustedPublicKeys.length === 0) {
    problems.push('PLUGINS_REQUIRE_SIGNED=true needs at least one key in PLUGINS_TRUSTED_PUBKEY');
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n- ${problems.join('\n- ')}`);
  return config;
}

function readNodeId(env: Env, problems: string[]): string {
  const nodeId = env.NODE_ID || os.hostname();
  if (!NODE_ID_PATTERN.test(nodeId)) {
    problems.push(`NODE_ID must match ${NODE_ID_PATTERN.source}, got "${nodeId}"${env.NODE_ID ? '' : ' (the host name)'}`);
  }
  return nodeId;
}

/** `http://<host>:<port>` as this machine reaches the server; a wildcard host is `localhost`. */
function fallbackBaseUrl(host: string, port: number): string {
  const name = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${name}:${port}`;
}

/** An absolute http(s) URL without query, fragment or credentials; returned without its trailing slash. */
function readPublicUrl(env: Env, problems: string[]): string | null {
  const raw = env.PUBLIC_URL;
  if (!raw) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    problems.push(`PUBLIC_URL must be an absolute http or https URL, got "${raw}"`);
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') problems.push(`PUBLIC_URL must be an http or https URL, got "${raw}"`);
  else if (url.search || url.hash || raw.includes('?') || raw.includes('#')) problems.push(`PUBLIC_URL must have no query or fragment, got "${raw}"`);
  else if (url.username || url.password) problems.push(`PUBLIC_URL must carry no credentials`);
  else return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  return null;
}

/**
 * ALLOWED_HOSTS (comma- or space-separated) or, unset, this machine's names: localhost,
 * 127.0.0.1, ::1, the host name, and the hosts of PUBLIC_URL and NODE_URL.
 */
function readAllowedHosts(env: Env, urls: Array<string | null>, problems: string[]): string[] {
  const raw = env.ALLOWED_HOSTS;
  if (raw) {
    const hosts = raw.split(/[\s,]+/).filter(Boolean).map((host) => host.toLowerCase().replace(/^\[(.*)\]$/, '$1'));
    for (const host of hosts) {
      if (host !== '*' && !/^\.?[a-z0-9_.-]+$|^[0-9a-f:.]+$/.test(host)) problems.push(`ALLOWED_HOSTS: "${host}" is not a host name, an IP address, ".domain" or "*"`);
    }
    return hosts;
  }
  const hosts = new Set(['localhost', '127.0.0.1', '::1', os.hostname().toLowerCase()]);
  for (const url of urls) {
    try {
      if (url) hosts.add(new URL(url).hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1'));
    } catch {
      // NODE_URL is not checked here; a bad one adds nothing.
    }
  }
  return [...hosts];
}

/** `file:<absolute path>` (default `file:<DATA_DIR>/blobs`) or `s3://<bucket>[/<prefix>]`. */
function readBlobStore(env: Env, dataDir: string, read: EnvReader, problems: string[]): BlobStoreSettings {
  const raw = env.BLOB_STORE || `file:${path.join(dataDir, 'blobs')}`;
  if (raw.startsWith('file:')) {
    const root = raw.slice('file:'.length);
    if (!path.isAbsolute(root)) problems.push(`BLOB_STORE: file: needs an absolute path, got "${raw}"`);
    return { kind: 'file', root: path.resolve(root) };
  }
  const s3 = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(raw);
  if (s3) {
    return {
      kind: 's3',
      bucket: s3[1]!,
      prefix: (s3[2] ?? '').replace(/^\/+|\/+$/g, ''),
      endpoint: env.S3_ENDPOINT || undefined,
      region: env.S3_REGION || undefined,
      forcePathStyle: read.boolean('S3_FORCE_PATH_STYLE', false),
    };
  }
  problems.push(`BLOB_STORE must be file:<absolute path> or s3://<bucket>[/<prefix>], got "${raw}"`);
  return { kind: 'file', root: path.join(dataDir, 'blobs') };
}

class EnvReader {
  constructor(
    private readonly env: Env,
    private readonly problems: string[],
  ) {}

  integer(name: string, fallback: number, min: number, max: number): number {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      this.problems.push(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return value;
  }

  boolean(name: string, fallback: boolean): boolean {
    const raw = this.env[name]?.toLowerCase();
    if (raw === undefined || raw === '') return fallback;
    if (['true', '1', 'yes'].includes(raw)) return true;
    if (['false', '0', 'no'].includes(raw)) return false;
    this.problems.push(`${name} must be true or false, got "${this.env[name]}"`);
    return fallback;
  }

  /** Comma- or colon-separated. */
  list(name: string): string[] {
    return (this.env[name] ?? '').split(/[,:]/).map((item) => item.trim()).filter(Boolean);
  }

  publicKeys(name: string): Buffer[] {
    return (this.env[name] ?? '')
      .split(/[,\s]+/)
      .filter(Boolean)
      .flatMap((encoded) => {
        const key = Buffer.from(encoded, 'base64');
        if (key.length !== 32) {
          this.problems.push(`${name}: "${encoded}" is not a base64 32-byte Ed25519 public key`);
          return [];
        }
        return [key];
      });
  }
}
