// In-test stand-ins for the services behind the routes: they record every call, answer with
// contract-shaped objects, or throw the failure a test sets. What they check is the HTTP
// layer; the services themselves are tested on their own.
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { HttpResponse } from '../../supervisor/formats/handler.js';
import type {
  ArtifactService,
  ArtifactView,
  Download,
  FormatService,
  FormatTestInput,
  FormatTestResult,
  FormatView,
  HealthReport,
  HealthService,
  ClusterNodeView,
  ClusterService,
  Readiness,
  InstallSource,
  InstalledPluginView,
  NativeProtocolService,
  NativeRequest,
  PluginLogPage,
  PluginLogService,
  PluginService,
  PluginView,
  ProcessView,
  ReloadSource,
  NewRepositoryInput,
  RepositoryService,
  RepositoryView,
  UploadOptions,
} from '../../supervisor/services/contracts.js';
import type { TokenStore } from '../../supervisor/services/tokens.js';
import { BytesGone, notFound } from '../../supervisor/services/errors.js';
import type { ApiTokenRow, EventSeverity, NewToken, PluginEventRow, PluginLogQuery, PluginLogRow, PluginStatus, ResourceLimits } from '../../supervisor/store/store.js';

export const PLUGIN_ID = '0c4f6f5e-1b0a-4b8e-9d2a-7e3c2b1a0f9e';
const NOW = '2025-01-02T03:04:05.678Z';
const CAPABILITIES = { parse_metadata: true, validate_artifact: true, generate_index: false, handle_request: false };

export function samplePlugin(id = PLUGIN_ID): PluginView {
  return {
    id,
    plugin_id: id,
    name: 'unity',
    version: '1.0.0',
    display_name: 'Unity packages',
    description: null,
    author: null,
    homepage: null,
    license: 'MIT',
    status: 'active',
    plugin_type: 'format_handler',
    source_type: 'wasm_git',
    source_url: 'https://git.example/unity.git',
    source_ref: 'main',
    source_path: null,
    resolved_commit: 'a'.repeat(40),
    wasm_sha256: 'b'.repeat(64),
    format_key: 'unity',
    capabilities: CAPABILITIES,
    resource_limits: { memory_mb: 64, timeout_secs: 5, instances: 1 },
    error_message: null,
    installed_at: NOW,
    enabled_at: NOW,
    updated_at: NOW,
    runtime: { state: 'running', instances: 1, restarts: 0, pids: [4242] },
    nodes: [{ node_id: 'node-a', version: '1.0.0', state: 'running', pids: [4242], error_message: null, updated_at: NOW }],
  };
}

export function sampleFormat(formatKey = 'unity'): FormatView {
  return {
    id: '5d2c1b0a-9f8e-4d7c-8b6a-5e4d3c2b1a09',
    format_key: formatKey,
    plugin_id: PLUGIN_ID,
    handler_type: 'wasm',
    replaces_core: false,
    display_name: 'Unity packages',
    description: null,
    extensions: ['.unitypackage'],
    is_enabled: true,
    priority: 0,
    capabilities: CAPABILITIES,
    created_at: NOW,
    updated_at: NOW,
    repository_count: 0,
  };
}

function sampleEvent(pluginId: string): PluginEventRow {
  return { id: '9e8d7c6b-5a49-4382-9716-0a1b2c3d4e5f', plugin_id: pluginId, node_id: null, event_type: 'installed', severity: 'info', message: 'installed 1.0.0', details: {}, created_at: NOW };
}

function sampleProcess(): ProcessView {
  return {
    node_id: 'node-a',
    pid: 4242,
    version: '1.0.0',
    state: 'ready',
    started_at: NOW,
    rss_bytes: 50_000_000,
    cpu_percent: 0.5,
    wasm_memory_bytes: 1_048_576,
    in_flight: 0,
    calls_total: 3,
    errors_total: 0,
    restarts: 0,
    last_exit: null,
  };
}

export interface Call {
  method: string;
  args: unknown[];
}

/** An uploaded file as the service saw it, read while the call was in progress. */
export interface SeenUpload {
  file: string;
  bytes: Buffer;
}

abstract class Recorder {
  readonly calls: Call[] = [];
  /** Thrown by every call until cleared. */
  failure: Error | undefined;

  reset(): void {
    this.calls.length = 0;
    this.failure = undefined;
  }

  protected async record<T>(method: string, args: unknown[], answer: () => T | Promise<T>): Promise<T> {
    this.calls.push({ method, args });
    if (this.failure) throw this.failure;
    return answer();
  }
}

export class PluginServiceDouble extends Recorder implements PluginService {
  readonly uploads: SeenUpload[] = [];

  override reset(): void {
    super.reset();
    this.uploads.length = 0;
  }

  list(query: { status?: PluginStatus; plugin_type?: 'format_handler'; page: number; per_page: number }) {
    return this.record('list', [query], () => ({ items: [samplePlugin()], total: 1, page: query.page, per_page: query.per_page }));
  }

  get(id: string) {
    return this.record('get', [id], () => samplePlugin(id));
  }

  install(source: InstallSource) {
    return this.record('install', [source], async (): Promise<InstalledPluginView> => {
      if (source.kind === 'zip') await this.seeUpload(source.file);
      return { ...samplePlugin(), message: 'installed unity 1.0.0', warnings: [] };
    });
  }

  enable(id: string) {
    return this.record('enable', [id], () => samplePlugin(id));
  }

  disable(id: string) {
    return this.record('disable', [id], () => ({ ...samplePlugin(id), status: 'disabled' as const }));
  }

  reload(id: string, source: ReloadSource) {
    return this.record('reload', [id, source], async () => {
      if (source.kind === 'zip') await this.seeUpload(source.file);
      return { ...samplePlugin(id), message: 'plugin unity reloaded: 1.0.0 → 1.0.0, serving format unity', warnings: [] };
    });
  }

  setLimits(id: string, limits: Partial<ResourceLimits>) {
    return this.record('setLimits', [id, limits], () => ({ ...samplePlugin(id), resource_limits: { ...samplePlugin(id).resource_limits, ...limits } }));
  }

  uninstall(id: string, options: { force: boolean }) {
    return this.record('uninstall', [id, options], () => undefined);
  }

  events(id: string, query: { severity?: EventSeverity; limit: number }) {
    return this.record('events', [id, query], () => ({ items: [sampleEvent(id)] }));
  }

  processes(id: string) {
    return this.record('processes', [id], () => ({ items: [sampleProcess()] }));
  }

  private async seeUpload(file: string): Promise<void> {
    this.uploads.push({ file, bytes: await readFile(file) });
  }
}

export class FormatServiceDouble extends Recorder implements FormatService {
  /** What `test` answers with. */
  testSucceeds = true;

  override reset(): void {
    super.reset();
    this.testSucceeds = true;
  }

  list(query: { handler_type?: 'core' | 'wasm'; enabled?: boolean }) {
    return this.record('list', [query], () => ({ items: [sampleFormat()], total: 1 }));
  }

  get(formatKey: string) {
    return this.record('get', [formatKey], () => sampleFormat(formatKey));
  }

  enable(formatKey: string) {
    return this.record('enable', [formatKey], () => sampleFormat(formatKey));
  }

  disable(formatKey: string) {
    return this.record('disable', [formatKey], () => ({ ...sampleFormat(formatKey), is_enabled: false }));
  }

  test(formatKey: string, input: FormatTestInput) {
    return this.record('test', [formatKey, { path: input.path, content: Buffer.from(input.content) }], (): FormatTestResult => ({
      success: this.testSucceeds,
      format_key: formatKey,
      handler_type: 'wasm',
      execution_time_ms: 1.5,
      memory_used_bytes: 65536,
      metadata: this.testSucceeds ? { name: 'com.example.pkg', version: '1.0.0' } : null,
      validation_result: { valid: this.testSucceeds, errors: this.testSucceeds ? [] : ['not a unitypackage'] },
      error: this.testSucceeds ? null : 'not a unitypackage',
    }));
  }
}

export function sampleRepository(key = 'libs'): RepositoryView {
  return {
    id: '5d0e3c1a-2b4f-4a6e-8c9d-1e2f3a4b5c6d',
    key,
    format: 'unity',
    description: null,
    public: false,
    index_generated_at: null,
    index_error: null,
    created_at: '2025-01-31T12:00:00.000Z',
    updated_at: '2025-01-31T12:00:00.000Z',
  };
}

export class RepositoryServiceDouble extends Recorder implements RepositoryService {
  create(input: NewRepositoryInput) {
    return this.record('create', [input], () => ({ ...sampleRepository(input.key), format: input.format }));
  }

  list(query: { format?: string }) {
    return this.record('list', [query], () => ({ items: [sampleRepository()], total: 1 }));
  }

  get(key: string) {
    return this.record('get', [key], () => sampleRepository(key));
  }

  delete(key: string) {
    return this.record('delete', [key], () => undefined);
  }
}

export const SAMPLE_ARTIFACT_BYTES = Buffer.from('artifact bytes\n');

export function sampleArtifact(path = 'pkg/1.0.0/pkg-1.0.0.unitypackage'): ArtifactView {
  return {
    path,
    size_bytes: SAMPLE_ARTIFACT_BYTES.length,
    checksum_sha256: 'a'.repeat(64),
    version: '1.0.0',
    content_type: 'application/gzip',
    metadata: { path, version: '1.0.0' },
    created_at: NOW,
    updated_at: NOW,
  };
}

function sampleDownload(path: string): Download {
  return { path, size_bytes: SAMPLE_ARTIFACT_BYTES.length, checksum_sha256: 'a'.repeat(64), content_type: 'application/gzip', open: async () => Readable.from([SAMPLE_ARTIFACT_BYTES]) };
}

export class ArtifactServiceDouble extends Recorder implements ArtifactService {
  /** Keys of the repositories anonymous callers may read. */
  readonly publicKeys = new Set<string>();
  /** How many of the next downloads find their bytes gone when opened (replaced by another request meanwhile). */
  bytesGone = 0;

  override reset(): void {
    super.reset();
    this.bytesGone = 0;
  }

  private downloadOf(path: string): Download {
    const download = sampleDownload(path);
    if (this.bytesGone === 0) return download;
    this.bytesGone -= 1;
    return { ...download, open: async () => Promise.reject(new BytesGone(path)) };
  }

  upload(repositoryKey: string, path: string, body: Readable, options: UploadOptions) {
    return this.record('upload', [repositoryKey, path, options], async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      return { ...sampleArtifact(path), size_bytes: Buffer.concat(chunks).length };
    });
  }

  list(repositoryKey: string, query: { prefix?: string }) {
    return this.record('list', [repositoryKey, query], () => ({ items: [sampleArtifact()], total: 1 }));
  }

  download(repositoryKey: string, path: string) {
    return this.record('download', [repositoryKey, path], () => this.downloadOf(path));
  }

  delete(repositoryKey: string, path: string) {
    return this.record('delete', [repositoryKey, path], () => undefined);
  }

  listIndex(repositoryKey: string) {
    return this.record('listIndex', [repositoryKey], () => ({ items: [], total: 0, generated_at: null, error: null }));
  }

  indexFile(repositoryKey: string, path: string) {
    return this.record('indexFile', [repositoryKey, path], () => this.downloadOf(path));
  }

  reparse(repositoryKey: string) {
    return this.record('reparse', [repositoryKey], () => ({ repository: repositoryKey, artifacts: 0, index_generated_at: null, index_error: null }));
  }

  async isPublic(repositoryKey: string): Promise<boolean> {
    return this.publicKeys.has(repositoryKey);
  }
}

const NATIVE_ANSWER: HttpResponse = { status: 200, headers: [['content-type', 'text/plain']], body: Buffer.from('native answer') };

export class NativeProtocolDouble extends Recorder implements NativeProtocolService {
  /** What the "plugin" answers. */
  response: HttpResponse = NATIVE_ANSWER;
  repositoryPublic = false;
  /** The body limit the "service" reads with. */
  bodyLimit = { bytes: 16 * 1024 * 1024, reason: 'the double says so' };

  override reset(): void {
    super.reset();
    this.response = NATIVE_ANSWER;
    this.repositoryPublic = false;
  }

  async handle(formatKey: string, repositoryKey: string, request: NativeRequest, externalBase: string) {
    const { readBody, ...rest } = request;
    const body = Buffer.from(await readBody(this.bodyLimit)).toString();
    return this.record('handle', [formatKey, repositoryKey, { ...rest, body }, externalBase], () => ({ ...this.response, repositoryPublic: this.repositoryPublic }));
  }
}

export class HealthDouble implements HealthService {
  databaseOk = true;
  readinessState: Readiness = 'ready';

  async health(): Promise<HealthReport> {
    return {
      status: this.databaseOk ? 'ok' : 'degraded',
      checks: {
        database: this.databaseOk ? { ok: true } : { ok: false, error: 'connection refused' },
        plugins: { ok: true, active: 1, running: 1, error: 0, failing: [] },
        cluster: { ok: true, nodes_up: 2, nodes_lost: 1 },
      },
    };
  }

  readiness(): Readiness {
    return this.readinessState;
  }
}

/** Two nodes: one up, one lost. */
export class ClusterDouble implements ClusterService {
  readonly items: ClusterNodeView[] = [
    {
      node_id: 'node-a',
      url: 'http://node-a:8080',
      state: 'up',
      started_at: '2026-01-01T00:00:00.000Z',
      last_seen_at: '2026-01-01T00:10:00.000Z',
      version: '0.1.0',
      plugins: { running: 2, error: 0 },
    },
    {
      node_id: 'node-b',
      url: null,
      state: 'lost',
      started_at: '2026-01-01T00:00:00.000Z',
      last_seen_at: '2026-01-01T00:01:00.000Z',
      version: '0.1.0',
      plugins: { running: 0, error: 1 },
    },
  ];

  async nodes(): Promise<ClusterNodeView[]> {
    return this.items;
  }
}

/** A plugin's log: two canned lines for PLUGIN_ID; follow yields them after `after`, then ends. */
export class PluginLogDouble extends Recorder implements PluginLogService {
  readonly lines: PluginLogRow[] = [
    { seq: 1, time: '2026-01-01T00:00:00.000Z', node_id: 'node-a', pid: 101, version: '1.0.0', stream: 'stdout', text: 'hello' },
    { seq: 2, time: '2026-01-01T00:00:01.000Z', node_id: 'node-b', pid: 202, version: '1.0.0', stream: 'host', text: 'crashed: boom' },
  ];

  list(pluginId: string, query: PluginLogQuery): Promise<PluginLogPage> {
    return this.record('list', [pluginId, query], () => {
      if (pluginId !== PLUGIN_ID) throw notFound(`no plugin with id ${pluginId}`);
      const items = this.lines.filter((line) => line.seq > (query.after ?? 0)).slice(-query.limit);
      return { items, next: items.at(-1)?.seq ?? query.after ?? 0 };
    });
  }

  /** Set: follow keeps the stream open (yielding nothing more) until its signal aborts, then sets `aborted`. */
  endless = false;
  aborted = false;

  follow(pluginId: string, after: number | undefined, signal: AbortSignal): Promise<AsyncGenerator<PluginLogRow[]>> {
    return this.record('follow', [pluginId, after], () => {
      if (pluginId !== PLUGIN_ID) throw notFound(`no plugin with id ${pluginId}`);
      const lines = this.lines.filter((line) => line.seq > (after ?? 0));
      const double = this;
      return (async function* () {
        yield lines;
        if (!double.endless) return;
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        double.aborted = true;
      })();
    });
  }
}

/** The token part of the store, in memory, with the real store's semantics. */
export class MemoryTokenStore implements TokenStore {
  readonly rows: ApiTokenRow[] = [];
  touches = 0;

  async insertToken(token: NewToken): Promise<ApiTokenRow> {
    const row: ApiTokenRow = { ...token, created_at: new Date().toISOString(), last_used_at: null, revoked_at: null };
    this.rows.push(row);
    return { ...row };
  }

  async findTokenByHash(tokenHash: string): Promise<ApiTokenRow | undefined> {
    const row = this.rows.find((candidate) => candidate.token_hash === tokenHash && candidate.revoked_at === null);
    return row && { ...row };
  }

  async listTokens(): Promise<ApiTokenRow[]> {
    return this.rows.map((row) => ({ ...row }));
  }

  async revokeToken(id: string): Promise<boolean> {
    const row = this.rows.find((candidate) => candidate.id === id && candidate.revoked_at === null);
    if (!row) return false;
    row.revoked_at = new Date().toISOString();
    return true;
  }

  async touchToken(id: string): Promise<void> {
    this.touches += 1;
    const row = this.rows.find((candidate) => candidate.id === id);
    if (row) row.last_used_at = new Date().toISOString();
  }
}
