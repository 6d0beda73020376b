/**
 * upload-streaming: the 1.1.0 interface over real HTTP (the supervisor as `npm start` runs
 * it, SQLite in a temporary DATA_DIR), three handlers in the same run:
 * - `stream`: test/fixtures/stream.wat, a 1.1.0 WAT plugin with max_memory_mb = 64, which
 *   reads its artifact through the host's `artifact` resource (1 MiB reads for `*.sum`
 *   paths, the 4-byte header otherwise);
 * - `demo`: test/fixtures/good.wat, a 1.0.0 WAT plugin (max_memory_mb = 256) handed every
 *   artifact whole (it sums every byte);
 * - `generic`: the core handler, the baseline.
 *
 * Figures (JSON lines, each naming the plugin and its language):
 * - a 1 GiB artifact through `stream` (validate reads the header; parse-metadata reads it all
 *   in 1 MiB chunks and sums it; then generate-index): the upload's time, the child's peak RSS
 *   (VmHWM) and linear memory after it (targets: linear memory well under 64 MB, RSS under 200 MB);
 * - serial uploads of 1 MiB and 64 MiB through `stream` reading only the header, `generic`
 *   and `demo`: MB/s, with the core handler's as the baseline (target ratio >= 0.9).
 * Uploads are serial (one in flight): the figure is the upload path's own cost, not a
 * saturation test (bench/upload.ts is that).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../supervisor/config.js';
import { startSupervisor } from '../supervisor/supervisor.js';
import { fixtureWasm, type FixtureName } from '../test/support/fixtures.js';
import { makeZip } from '../test/support/zips.js';
import { median, note, now, report } from './lib.js';

const MiB = 1024 * 1024;
const BIG_BYTES = 1024 * MiB;
const SERIAL = [
  { size: 1 * MiB, count: 30 },
  { size: 64 * MiB, count: 5 },
];

const HANDLERS = {
  stream: { plugin: 'stream.wat (1.1.0, WAT)', fixture: 'stream' as FixtureName, memoryMb: 64 },
  demo: { plugin: 'good.wat (1.0.0, WAT)', fixture: 'good' as FixtureName, memoryMb: 256 },
  generic: { plugin: 'generic (core)', fixture: null, memoryMb: null },
} as const;
type HandlerKey = keyof typeof HANDLERS;

/** "DEMO" then bytes of 1, `size` in all. */
function demoBytes(size: number): Buffer {
  const data = Buffer.alloc(size, 1);
  data.write('DEMO');
  return data;
}

/** A body of `size` bytes made as it is sent, 1 MiB at a time: the client holds no GiB. */
function streamedBody(size: number): ReadableStream<Uint8Array> {
  const chunk = demoBytes(MiB);
  const rest = Buffer.alloc(MiB, 1);
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= size) return controller.close();
      const piece = (sent === 0 ? chunk : rest).subarray(0, Math.min(MiB, size - sent));
      sent += piece.length;
      controller.enqueue(new Uint8Array(piece));
    },
  });
}

function peakRssBytes(pid: number): number | null {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
    return line ? Number(line.split(/\s+/)[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export async function run(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pk-bench-streaming-'));
  const token = randomBytes(16).toString('hex');
  const config = loadConfig({ DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', ADMIN_TOKEN: token, ARTIFACTS_MAX_MB: '1100', PUBLIC_URL: 'https://repo.example' });
  const supervisor = await startSupervisor(config, pino({ level: 'silent' }));
  const auth = { authorization: `Bearer ${token}` };
  const api = async (method: string, target: string, body?: unknown) => {
    const init: RequestInit & { duplex?: 'half' } = { method, headers: { ...auth } };
    if (body instanceof ReadableStream) {
      init.body = body;
      init.duplex = 'half';
    } else if (body instanceof Uint8Array) init.body = new Uint8Array(body);
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] = 'application/json';
    }
    const response = await fetch(supervisor.url + target, init);
    const text = await response.text();
    return { status: response.status, text, json: response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : undefined };
  };
  const pluginIds: Partial<Record<HandlerKey, string>> = {};

  try {
    for (const [key, handler] of Object.entries(HANDLERS) as Array<[HandlerKey, (typeof HANDLERS)[HandlerKey]]>) {
      if (handler.fixture) {
        const toml = [
          '[plugin]', `name = "bench-${key}"`, 'version = "1.0.0"', '', '[format]', `key = "${key}"`, 'display_name = "Bench"', 'extensions = [".demo"]', '',
          '[capabilities]', 'parse_metadata = true', 'validate_artifact = true', 'generate_index = true', '',
          '[requirements]', `max_memory_mb = ${handler.memoryMb}`, '',
        ].join('\n');
        const form = new FormData();
        form.set('file', new Blob([new Uint8Array(makeZip([{ name: 'plugin.toml', data: toml }, { name: 'plugin.wasm', data: await fixtureWasm(handler.fixture) }]))]), 'plugin.zip');
        const installed = await fetch(`${supervisor.url}/api/v1/plugins/install/zip`, { method: 'POST', headers: auth, body: form });
        const answer = (await installed.json()) as { id: string };
        if (installed.status !== 201) throw new Error(`installing ${key}: ${installed.status} ${JSON.stringify(answer)}`);
        pluginIds[key] = answer.id;
      }
      const created = await api('POST', '/api/v1/repositories', { key: `bench-${key}`, format: key });
      if (created.status !== 201) throw new Error(`creating repository for ${key}: ${created.text}`);
    }
    const childOf = async (key: HandlerKey) => {
      const processes = (await api('GET', `/api/v1/plugins/${pluginIds[key]}/processes`)).json;
      return (processes.items ?? processes)[0] as { pid: number; wasm_memory_bytes: number | null };
    };

    // 1 GiB through the 1.1.0 plugin, read whole in 1 MiB chunks.
    const started = now();
    const big = await api('PUT', '/api/v1/repositories/bench-stream/artifacts/big.sum', streamedBody(BIG_BYTES));
    const seconds = (now() - started) / 1000;
    if (big.status !== 201) throw new Error(`the 1 GiB upload answered ${big.status}: ${big.text}`);
    const expectedSum = 68 + 69 + 77 + 79 + (BIG_BYTES - 4);
    if (big.json.version !== String(expectedSum)) throw new Error(`the 1 GiB artifact's sum is ${big.json.version}, expected ${expectedSum}`);
    const index = await api('GET', '/api/v1/repositories/bench-stream/index/index.txt');
    if (!index.text.includes('https://repo.example/api/v1/repositories/bench-stream/artifacts/big.sum')) throw new Error(`the index misses the artifact: ${index.text}`);
    const child = await childOf('stream');
    const plugin = HANDLERS.stream.plugin;
    report({ bench: 'upload-streaming', metric: `1GiB_validate_parse_index_s (${plugin}, 64 MB)`, value: seconds, unit: 's' });
    report({ bench: 'upload-streaming', metric: `1GiB_MB_per_s (${plugin})`, value: BIG_BYTES / MiB / seconds, unit: 'MB/s' });
    const peak = peakRssBytes(child.pid);
    if (peak !== null) report({ bench: 'upload-streaming', metric: `1GiB_child_peak_rss (${plugin})`, value: peak / MiB, unit: 'MiB', baseline: 200 });
    if (child.wasm_memory_bytes !== null) report({ bench: 'upload-streaming', metric: `1GiB_linear_memory_after (${plugin})`, value: child.wasm_memory_bytes / MiB, unit: 'MiB', baseline: 64 });
    // The artifact stays stored; the next uploads go to fresh repositories' worth of paths.

    for (const { size, count } of SERIAL) {
      const label = size >= MiB ? `${size / MiB}MiB` : `${size / 1024}KiB`;
      const data = demoBytes(size);
      const rates: Partial<Record<HandlerKey, number>> = {};
      for (const key of ['generic', 'stream', 'demo'] as HandlerKey[]) {
        const times: number[] = [];
        for (let i = 0; i < count + 1; i++) {
          const t = now();
          const answer = await api('PUT', `/api/v1/repositories/bench-${key}/artifacts/serial/${label}-${i}.demo`, data);
          if (answer.status !== 201) throw new Error(`${key} ${label} upload answered ${answer.status}: ${answer.text}`);
          if (i > 0) times.push(now() - t); // the first one warms up
        }
        rates[key] = size / MiB / (median(times) / 1000);
      }
      for (const key of ['generic', 'stream', 'demo'] as HandlerKey[]) {
        report({
          bench: 'upload-streaming',
          metric: `serial_upload_${label}_MB_per_s (${HANDLERS[key].plugin})`,
          value: rates[key]!,
          unit: 'MB/s',
          ...(key === 'generic' ? {} : { baseline: rates.generic! }),
        });
      }
      report({ bench: 'upload-streaming', metric: `ratio_1.1.0_header_plugin_to_core_${label}`, value: rates.stream! / rates.generic!, unit: 'ratio', baseline: 0.9 });
    }
  } finally {
    await supervisor.close();
    await rm(dataDir, { recursive: true, force: true });
  }
  note('upload-streaming: serial uploads (one in flight), medians; the 1 GiB body streamed by the client 1 MiB at a time');
}
