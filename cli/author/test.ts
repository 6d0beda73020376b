/**
 * `plugin-keeper test`: one artifact through a plugin the way the server would run it. The
 * folder passes the server's install checks (package-check.ts), the component is transpiled
 * and started by the supervisor's own runtime (same sandbox, the limits the server would
 * give it), and the calls go through the same WasmFormatHandler the server uses, so a
 * capability the manifest leaves out behaves here as it does there.
 *
 * validate, parse-metadata, then generate-index over the metadata the server would store (its
 * own size and SHA-256), and with `--request` one handle-request over that artifact; each
 * with its result, its time (as the server sees it: the RPC included) and the child's memory
 * right after it (RSS and WebAssembly linear memory, from the child's own stats). The first
 * failure ends the run with exit status 1. The plugin's own lines (console.log, and an
 * uncaught error with its stack mapped to the TypeScript source) are shown on stderr as they
 * come; a crash's message carries the error and the stack too.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { classifyLine } from '../../protocol/log-lines.js';
import { type HttpRequest, type HttpResponse, Stats } from '../../protocol/methods.js';
import { loadConfig } from '../../supervisor/config.js';
import type { ArtifactMetadata, IndexFile } from '../../supervisor/formats/handler.js';
import { WasmFormatHandler } from '../../supervisor/formats/wasm-handler.js';
import { ArtifactInvalid, PluginFailure } from '../../supervisor/runtime/errors.js';
import { PluginStartFailed, type VersionPool } from '../../supervisor/runtime/pool.js';
import { PluginRuntime } from '../../supervisor/runtime/runtime.js';
import { storedArtifact } from '../../supervisor/services/artifacts/artifacts.js';
import { toMetadata } from '../../supervisor/services/artifacts/indexes.js';
import { repositoryContext } from '../../supervisor/services/artifacts/context.js';
import { bytesSource } from '../../supervisor/formats/artifact-source.js';
import type { CapabilitySet } from '../../supervisor/store/store.js';
import { type Command, CommandFailed, type Output, UsageError } from '../command.js';
import { parseCommandLine } from './args.js';
import { AUTHOR_TEMP_DIR, checkPluginFolder, type CheckedPlugin } from './package-check.js';
import { formatDuration, progressOn } from './progress.js';
import { sha256Hex } from '../../supervisor/sha256.js';

/** Where the author's test run tells generate-index and handle-request the repository is (the server's default address). */
const AUTHOR_TEST_BASE_URL = 'http://localhost:8080';

type CallName = 'validate' | 'parse-metadata' | 'generate-index' | 'handle-request';

/** An index file or an answer's body, as JSON can carry it: UTF-8 as text, anything else as base64. */
interface ShownBytes {
  size_bytes: number;
  text?: string;
  base64?: string;
}

interface CallReport {
  call: CallName;
  ok: boolean;
  ms: number;
  /** The child's figures right after the call; null when the call took the child down. */
  memory: { rss_bytes: number; wasm_memory_bytes: number } | null;
  result?: ArtifactMetadata | Array<{ path: string } & ShownBytes> | { status: number; headers: Array<[string, string]>; body: ShownBytes } | null;
  error?: { code: string; message: string };
  /** Set when the manifest leaves the capability out: the server then answers without the plugin. */
  note?: string;
}

interface TestReport {
  plugin: { name: string; version: string; format_key: string; wasm: string; sha256: string };
  /** What the server would run the plugin with; the test starts one instance. */
  limits: { memory_mb: number; timeout_secs: number; instances: number };
  warnings: string[];
  sandbox: string;
  artifact: { file: string; path: string; size_bytes: number };
  startup_ms: { transpile: number; start: number };
  ok: boolean;
  calls: CallReport[];
}

const CAPABILITY_OF: Record<CallName, keyof CapabilitySet> = {
  validate: 'validate_artifact',
  'parse-metadata': 'parse_metadata',
  'generate-index': 'generate_index',
  'handle-request': 'handle_request',
};


export const testCommand: Command = {
  name: 'test',
  summary: 'run an artifact through a built plugin, in the server\'s sandbox and limits',
  usage: `usage: plugin-keeper test DIR ARTIFACT [--path PATH] [--request "METHOD /PATH[?QUERY]"] [--json]

Checks the plugin in DIR as an install would, starts it in the server's sandbox with the
limits the server would give it, and calls validate, parse-metadata, then generate-index
over the parsed metadata with the file ARTIFACT. Prints each result, the time each call
took and the plugin process's memory after it (RSS, WebAssembly linear memory). Exits with
status 1 when a call fails (the artifact is invalid, or the plugin crashed or ran out of
time or memory).

  --path PATH   the artifact's path in the repository (default: ARTIFACT's file name)
  --request "GET /index.json"
                then send this request to handle-request (a plugin with
                handle_request = true), the artifact being the repository's only one,
                and print the answer's status, headers and body
  --json        print one JSON document instead of text

Limits come from plugin.toml, filled and capped by the server settings of the environment
(PLUGINS_DEFAULT_*, PLUGINS_MAX_*). The plugin's own output (console.log, console.error)
is shown on stderr as "[plugin stdout] ..." and "[plugin stderr] ..." (the sandbox's own
lines as "[plugin host] ..."); an error the plugin did not catch is
shown there and in the failed call with its stack, in src/ lines.`,

  async run(args, output) {
    const { values, positionals } = parseCommandLine(args, { path: { type: 'string' }, request: { type: 'string' }, json: { type: 'boolean' } }, 2);
    if (positionals.length < 2) throw new UsageError('test needs the plugin folder and an artifact file');
    const request = values.request === undefined ? undefined : parseRequestLine(values.request);
    const [dir, artifactFile] = positionals as [string, string];
    const data = await readFile(artifactFile).catch((error: Error) => {
      throw new CommandFailed(`cannot read the artifact ${artifactFile}: ${error.message}`);
    });
    const artifactPath = values.path ?? path.basename(artifactFile);

    const checked = await checkPluginFolder(dir, loadConfig().plugins);
    try {
      const report = await runPlugin(checked, { file: path.resolve(artifactFile), path: artifactPath, data }, request, output);
      for (const line of values.json ? [JSON.stringify(report, null, 2)] : renderText(report)) output.out(line);
      return report.ok ? 0 : 1;
    } finally {
      await checked.pkg.cleanup();
    }
  },
};

async function runPlugin(
  { pkg, limits, warnings }: CheckedPlugin,
  artifact: { file: string; path: string; data: Uint8Array },
  request: HttpRequest | undefined,
  output: Output,
): Promise<TestReport> {
  const progress = progressOn(output);
  const runtime = new PluginRuntime({ cacheDir: path.join(AUTHOR_TEMP_DIR, 'components') });
  const { manifest } = pkg;

  progress(`transpiling ${pkg.wasmPath} (${pkg.wasm.byteLength} bytes; cached by SHA-256 after the first time)`);
  let mark = performance.now();
  const component = await runtime.prepare(pkg.wasm);
  const transpileMs = elapsedSince(mark);

  progress(`starting it in the sandbox: ${runtime.settings.sandbox.describe()}`);
  mark = performance.now();
  let pool: VersionPool;
  try {
    pool = await runtime.startVersion({
      version: manifest.plugin.version,
      component,
      cwd: pkg.dir,
      limits: { memoryMb: limits.memory_mb, timeoutMs: limits.timeout_secs * 1000, instances: 1 },
      expectedFormatKey: manifest.format.key,
      // One prefix per line, naming its stream, whether the guest or the host wrote it.
      log: (line) => {
        const { stream, text } = classifyLine(line);
        output.err(`[plugin ${stream}] ${text}`);
      },
    });
  } catch (error) {
    if (error instanceof PluginStartFailed) throw new CommandFailed(`the plugin did not start: ${error.message}`);
    throw error;
  }
  const startMs = elapsedSince(mark);
  progress('calling the plugin');

  const handler = new WasmFormatHandler(manifest.format.key, manifest.capabilities, component.sha256, pool);
  const sizeWarnings =
    handler.maxArtifactBytes !== null && artifact.data.byteLength > handler.maxArtifactBytes
      ? [`the server refuses uploads this large for this plugin (413): ${handler.maxArtifactReason}`]
      : [];
  const calls: CallReport[] = [];
  const call = async <T>(name: CallName, run: () => Promise<T>, show: (value: T) => CallReport['result']) => {
    const outcome = await timedCall(pool, manifest.capabilities, name, run, show);
    calls.push(outcome.report);
    return outcome;
  };
  try {
    if ((await call('validate', () => handler.validate(artifact.path, bytesSource(artifact.data)), () => undefined)).ok) {
      const parsed = await call('parse-metadata', () => handler.parseMetadata(artifact.path, bytesSource(artifact.data)), (metadata) => metadata);
      // The metadata the server would store and index: its own size and SHA-256, not the plugin's.
      const stored = parsed.ok && toMetadata(storedArtifact(artifact.path, { size: artifact.data.byteLength, sha256: sha256Hex(artifact.data) }, parsed.value));
      const context = repositoryContext(AUTHOR_TEST_BASE_URL, manifest.format.key, 'test');
      const indexed = stored && (await call('generate-index', () => handler.generateIndex([stored], context), showIndex)).ok;
      if (indexed && request) await call('handle-request', () => handler.handleRequest(request, context, [stored]), showResponse);
    }
  } finally {
    await pool.drain();
  }

  return {
    plugin: {
      name: manifest.plugin.name,
      version: manifest.plugin.version,
      format_key: manifest.format.key,
      wasm: pkg.wasmPath,
      sha256: pkg.wasmSha256,
    },
    limits,
    warnings: [...warnings, ...sizeWarnings],
    sandbox: runtime.settings.sandbox.describe(),
    artifact: { file: artifact.file, path: artifact.path, size_bytes: artifact.data.byteLength },
    startup_ms: { transpile: transpileMs, start: startMs },
    ok: calls.length === (request ? 4 : 3) && calls.every((report) => report.ok),
    calls,
  };
}

type Outcome<T> = { ok: true; value: T; report: CallReport } | { ok: false; report: CallReport };

/** One handler call, timed, with the child's memory after it; a plugin failure is reported, not thrown. */
async function timedCall<T>(
  pool: VersionPool,
  capabilities: CapabilitySet,
  name: CallName,
  run: () => Promise<T>,
  show: (value: T) => CallReport['result'],
): Promise<Outcome<T>> {
  const capability = CAPABILITY_OF[name];
  const note = capabilities[capability]
    ? undefined
    : `[capabilities] ${capability} is not true: the server answers this without calling the plugin`;
  const started = performance.now();
  try {
    const value = await run();
    const ms = elapsedSince(started);
    return { ok: true, value, report: { call: name, ok: true, ms, memory: await memoryOf(pool), result: show(value), note } };
  } catch (error) {
    if (!(error instanceof PluginFailure)) throw error;
    const ms = elapsedSince(started);
    // Only a rejected artifact leaves the child as it was; after the others its figures mean nothing.
    const memory = error instanceof ArtifactInvalid ? await memoryOf(pool) : null;
    return { ok: false, report: { call: name, ok: false, ms, memory, error: { code: error.code, message: error.message }, note } };
  }
}

/** Milliseconds, to a hundredth: finer is noise. */
function elapsedSince(start: number): number {
  return Math.round((performance.now() - start) * 100) / 100;
}

/** The child's own figures (plugin/stats), right now: the processes endpoint samples RSS less often. */
async function memoryOf(pool: VersionPool): Promise<CallReport['memory']> {
  const stats = await pool.call(Stats);
  return { rss_bytes: stats.rssBytes, wasm_memory_bytes: stats.wasmMemoryBytes };
}

/** `--request "GET /index.json?x=1"`: a request line, as the server hands one to the plugin (no headers, no body). */
function parseRequestLine(line: string): HttpRequest {
  const parts = /^([A-Z]+) (\/[^\s?]*)(?:\?(\S*))?$/.exec(line.trim());
  if (!parts) throw new UsageError(`--request takes a method and a path, e.g. "GET /index.json", not "${line}"`);
  return { method: parts[1]!, path: parts[2]!, query: parts[3] ?? '', headers: [], body: new Uint8Array() };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function showBytes(bytes: Uint8Array): ShownBytes {
  try {
    return { size_bytes: bytes.byteLength, text: utf8.decode(bytes) };
  } catch {
    return { size_bytes: bytes.byteLength, base64: Buffer.from(bytes).toString('base64') };
  }
}

function showIndex(files: IndexFile[] | null): CallReport['result'] {
  if (files === null) return null;
  return files.map((file) => ({ path: file.path, ...showBytes(file.content) }));
}

function showResponse(response: HttpResponse): CallReport['result'] {
  return { status: response.status, headers: response.headers, body: showBytes(response.body) };
}

const MAX_SHOWN_CHARS = 2000;

function renderText(report: TestReport): string[] {
  const { plugin, limits, artifact } = report;
  const lines = [
    `${plugin.name} ${plugin.version}, format ${plugin.format_key}, component ${plugin.wasm}`,
    `limits: ${limits.memory_mb} MB, ${limits.timeout_secs} s per call (the server would start ${limits.instances} instance(s); this test starts 1)`,
    `sandbox: ${report.sandbox}`,
    `artifact: ${artifact.path} (${artifact.size_bytes} bytes, from ${artifact.file})`,
    `startup: transpile ${formatDuration(report.startup_ms.transpile)}, start ${formatDuration(report.startup_ms.start)}`,
    ...report.warnings.map((warning) => `warning: ${warning}`),
    '',
  ];
  for (const call of report.calls) {
    const memory = call.memory
      ? `rss ${mebibytes(call.memory.rss_bytes)}, wasm memory ${mebibytes(call.memory.wasm_memory_bytes)}`
      : 'memory: n/a (the process was replaced)';
    lines.push(`${call.call.padEnd(15)} ${(call.ok ? 'ok' : 'FAILED').padEnd(7)} ${formatDuration(call.ms).padStart(8)}   ${memory}`);
    if (call.note) lines.push(`  note: ${call.note}`);
    if (call.error) lines.push(`  ${call.error.code}: ${call.error.message}`);
    if (call.result === null) lines.push('  no index (none)');
    else if (Array.isArray(call.result)) {
      for (const file of call.result) {
        lines.push(`  ${file.path} (${file.size_bytes} bytes)`, `    ${renderBytes(file)}`);
      }
    } else if (call.result !== undefined && 'status' in call.result) {
      const { status, headers, body } = call.result;
      lines.push(`  status ${status}`, ...headers.map(([name, value]) => `  ${name}: ${value}`), `  body (${body.size_bytes} bytes)`, `    ${renderBytes(body)}`);
    } else if (call.result !== undefined) {
      lines.push(`  ${JSON.stringify(call.result)}`);
    }
  }
  lines.push('', report.ok ? 'ok: the artifact passed every call' : `FAILED: ${failure(report)}`);
  return lines;
}

function renderBytes(bytes: ShownBytes): string {
  const shown = bytes.text ?? `base64 ${bytes.base64}`;
  return shown.length > MAX_SHOWN_CHARS ? `${shown.slice(0, MAX_SHOWN_CHARS)}... (${shown.length - MAX_SHOWN_CHARS} more characters)` : shown;
}

function failure(report: TestReport): string {
  const failed = report.calls.find((call) => !call.ok);
  return failed ? `${failed.call}: ${failed.error!.message}` : 'not every call ran';
}

function mebibytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
