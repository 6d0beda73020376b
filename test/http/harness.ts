// The real Koa app on 127.0.0.1:0 over the service doubles, a real TokenService over an
// in-memory token store, and a pino logger whose lines the tests can read.
import { Metrics } from '../../supervisor/metrics.js';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../supervisor/config.js';
import { createApp, uploadRoot } from '../../supervisor/http/app.js';
import { TokenService } from '../../supervisor/services/tokens.js';
import {
  ArtifactServiceDouble,
  FormatServiceDouble,
  HealthDouble,
  ClusterDouble,
  MemoryTokenStore,
  NativeProtocolDouble,
  PluginLogDouble,
  PluginServiceDouble,
  RepositoryServiceDouble,
} from './doubles.js';

export const ADMIN_TOKEN = 'bootstrap-admin-token';
export const ADMIN_PASSWORD = 'correct horse battery staple';
/** PLUGINS_MAX_ZIP_MB of the harness: small, so oversize uploads are quick to send. */
export const MAX_ZIP_BYTES = 1024 * 1024;

/** Who a request is sent as. */
export type As = 'anonymous' | 'admin' | 'reader' | { headers: Record<string, string> };

export interface RequestOptions {
  as?: As;
  headers?: Record<string, string>;
  /** Sent as JSON (with its Content-Type) unless it is a string, Buffer or FormData. */
  body?: unknown;
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body, when it is JSON. */
  json: any;
}

export interface Harness {
  base: string;
  plugins: PluginServiceDouble;
  formats: FormatServiceDouble;
  repositories: RepositoryServiceDouble;
  artifacts: ArtifactServiceDouble;
  native: NativeProtocolDouble;
  health: HealthDouble;
  cluster: ClusterDouble;
  logs: PluginLogDouble;
  tokens: TokenService;
  tokenStore: MemoryTokenStore;
  readerToken: string;
  /** A stored admin token (ADMIN_TOKEN is the bootstrap one). */
  adminToken: string;
  dataDir: string;
  logLines: Record<string, any>[];
  call(method: string, path: string, options?: RequestOptions): Promise<Answer>;
  /** Whatever is left in the upload folder (folders and files). */
  leftoverUploads(): Promise<string[]>;
  reset(): void;
  close(): Promise<void>;
}

export const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** `env`: more settings, over the harness's own (e.g. `{ PUBLIC_URL: ... }` or `{ METRICS_TOKEN: ... }`). */
export async function startHarness(env: Record<string, string> = {}): Promise<Harness> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pk-http-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    ADMIN_TOKEN,
    ADMIN_PASSWORD,
    PLUGINS_MAX_ZIP_MB: String(MAX_ZIP_BYTES / (1024 * 1024)),
    LOG_LEVEL: 'info',
    ...env,
  });
  const tokenStore = new MemoryTokenStore();
  const tokens = new TokenService(tokenStore, config);
  const readerToken = (await tokens.create({ role: 'reader', name: 'reader' })).token;
  const adminToken = (await tokens.create({ role: 'admin', name: 'admin' })).token;
  const plugins = new PluginServiceDouble();
  const formats = new FormatServiceDouble();
  const repositories = new RepositoryServiceDouble();
  const artifacts = new ArtifactServiceDouble();
  const native = new NativeProtocolDouble();
  const health = new HealthDouble();
  const cluster = new ClusterDouble();
  const logs = new PluginLogDouble();
  const logLines: Record<string, any>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => logLines.push(JSON.parse(line)) });

  // One running plugin version, so the metrics have plugin figures to show.
  const metrics = new Metrics({ runningPlugins: () => [{ plugin: 'demo-plugin', format: 'demo', version: '1.0.0', processes: 2, restarts: 1, rssBytes: 1000, wasmMemoryBytes: 65536 }] }, 'node-a');
  const app = createApp({ plugins, logs, formats, repositories, artifacts, native, health, cluster, tokens, config, logger, metrics });
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const credentials = (as: As): Record<string, string> => {
    if (as === 'anonymous') return {};
    if (as === 'admin') return { authorization: `Bearer ${ADMIN_TOKEN}` };
    if (as === 'reader') return { authorization: `Bearer ${readerToken}` };
    return as.headers;
  };

  return {
    base,
    plugins,
    formats,
    repositories,
    artifacts,
    native,
    health,
    cluster,
    logs,
    tokens,
    tokenStore,
    readerToken,
    adminToken,
    dataDir,
    logLines,
    async call(method, target, options = {}) {
      const headers: Record<string, string> = { ...credentials(options.as ?? 'admin'), ...options.headers };
      let body: string | Uint8Array<ArrayBuffer> | FormData | undefined;
      if (typeof options.body === 'string' || options.body instanceof FormData) {
        body = options.body;
      } else if (Buffer.isBuffer(options.body)) {
        body = new Uint8Array(options.body);
      } else if (options.body !== undefined) {
        body = JSON.stringify(options.body);
        headers['content-type'] ??= 'application/json';
      }
      const response = await fetch(base + target, { method, headers, body });
      const text = await response.text();
      let json: unknown;
      if (response.headers.get('content-type')?.includes('json')) json = JSON.parse(text);
      return { status: response.status, headers: response.headers, text, json };
    },
    async leftoverUploads() {
      return readdir(uploadRoot(config), { recursive: true }).catch(() => []);
    },
    reset() {
      plugins.reset();
      formats.reset();
      repositories.reset();
      artifacts.reset();
      artifacts.publicKeys.clear();
      native.reset();
      health.databaseOk = true;
      health.readinessState = 'ready';
      logLines.length = 0;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A multipart form with one file in `field`, and text fields. */
export function form(field: string, bytes: Uint8Array, filename = 'plugin.zip', fields: Record<string, string> = {}): FormData {
  const data = new FormData();
  for (const [name, value] of Object.entries(fields)) data.append(name, value);
  data.append(field, new Blob([new Uint8Array(bytes)]), filename);
  return data;
}
