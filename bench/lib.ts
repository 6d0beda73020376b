/**
 * What the benchmarks share: the one-line JSON figure, latency statistics, time-bounded
 * worker loops, and a throw-away plugin runtime in a temporary folder.
 *
 * `BENCH_SCALE` (a number, default 1) multiplies every measuring duration; `BENCH_SCALE=0.2`
 * gives a quick smoke run with noisier figures.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { PoolLimits, RuntimeEvent, VersionPool } from '../supervisor/runtime/pool.js';
import { PluginRuntime, type PreparedComponent, type RuntimeConfig } from '../supervisor/runtime/runtime.js';
import { fixtureWasm, type FixtureName } from '../test/support/fixtures.js';

export interface Figure {
  bench: string;
  metric: string;
  value: number;
  unit: string;
  /** The same quantity measured without the thing under test, in the same run. */
  baseline?: number | null;
}

/** Prints one figure as one JSON line; `ratio` is value / baseline when there is a baseline. */
export function report(figure: Figure): void {
  const line: Record<string, unknown> = {
    bench: figure.bench,
    metric: figure.metric,
    value: round(figure.value),
    unit: figure.unit,
  };
  if (figure.baseline !== undefined && figure.baseline !== null) {
    line.baseline = round(figure.baseline);
    line.ratio = figure.baseline === 0 ? null : round(figure.value / figure.baseline, 3);
  }
  process.stdout.write(JSON.stringify(line) + '\n');
}

/** Progress and diagnostics go to stderr, so stdout holds figures only. */
export function note(text: string): void {
  process.stderr.write(`# ${text}\n`);
}

function round(value: number, decimals?: number): number {
  if (!Number.isFinite(value)) return value;
  if (decimals !== undefined) return Number(value.toFixed(decimals));
  const magnitude = Math.abs(value);
  if (magnitude >= 1000) return Math.round(value);
  if (magnitude >= 10) return Number(value.toFixed(1));
  return Number(value.toFixed(3));
}

export const scale = (() => {
  const raw = Number(process.env.BENCH_SCALE ?? '1');
  return Number.isFinite(raw) && raw > 0 ? raw : 1;
})();

/** A measuring duration in ms, scaled by BENCH_SCALE. */
export const ms = (base: number): number => Math.max(50, Math.round(base * scale));

export const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis));
export const now = (): number => performance.now();

/** Latency samples in ms, with the start time of each call (ms, performance.now()). */
export class Samples {
  private latencies: number[] = [];
  private starts: number[] = [];

  add(startedAt: number, latencyMs: number): void {
    this.starts.push(startedAt);
    this.latencies.push(latencyMs);
  }

  /** Appends every sample of `other`. */
  merge(other: Samples): this {
    for (let i = 0; i < other.latencies.length; i++) this.add(other.starts[i]!, other.latencies[i]!);
    return this;
  }

  get count(): number {
    return this.latencies.length;
  }

  /** The latencies of calls started inside any of the given [from, to) windows. */
  within(windows: Array<[number, number]>): Samples {
    const out = new Samples();
    for (let i = 0; i < this.starts.length; i++) {
      const t = this.starts[i]!;
      if (windows.some(([from, to]) => t >= from && t < to)) out.add(t, this.latencies[i]!);
    }
    return out;
  }

  /** Nearest-rank percentile in ms (p in 0..100); NaN when empty. */
  percentile(p: number): number {
    return percentile(this.latencies, p);
  }

  max(): number {
    return this.latencies.length === 0 ? Number.NaN : this.latencies.reduce((a, b) => Math.max(a, b), -Infinity);
  }
}

/**
 * `GET <baseUrl>/health`, one request at a time, until `busy` settles (or for `idleMs` when
 * there is none): how long everybody else waits while something costly goes on.
 */
export async function probeHealth(baseUrl: string, busy: Promise<unknown> | null, idleMs: number): Promise<Samples> {
  const samples = new Samples();
  let done = false;
  void busy?.then(
    () => (done = true),
    () => (done = true),
  );
  const until = now() + idleMs;
  while (busy ? !done : now() < until) {
    const started = now();
    await (await fetch(`${baseUrl}/health`)).arrayBuffer();
    samples.add(started, now() - started);
  }
  return samples;
}

export function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export const median = (values: ArrayLike<number>): number => percentile(values, 50);

/**
 * Event-loop lag of this process: a 5 ms timer chain while started, recording how late each
 * tick fired (ms). What holds the loop up (a synchronous spawn, say) delays every call.
 */
export class LoopLag {
  readonly lags: number[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs = 5) {}

  start(): void {
    if (this.timer) return;
    let due = now() + this.intervalMs;
    const tick = () => {
      const t = now();
      this.lags.push(Math.max(0, t - due));
      due = t + this.intervalMs;
      this.timer = setTimeout(tick, this.intervalMs);
    };
    this.timer = setTimeout(tick, this.intervalMs);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  percentile(p: number): number {
    return percentile(this.lags, p);
  }

  max(): number {
    return this.lags.length === 0 ? Number.NaN : Math.max(...this.lags);
  }
}

export interface LoadResult {
  completed: number;
  failed: number;
  errors: unknown[];
  elapsedMs: number;
  samples: Samples;
}

/**
 * Runs `concurrency` closed-loop workers calling `call` until `durationMs` has passed (or
 * `stop()` returns true); each worker keeps exactly one call in flight.
 */
export async function closedLoop(options: {
  concurrency: number;
  durationMs: number;
  call: () => Promise<unknown>;
  stop?: () => boolean;
  /** Keep at most this many errors for the report. */
  keepErrors?: number;
}): Promise<LoadResult> {
  const samples = new Samples();
  const errors: unknown[] = [];
  let completed = 0;
  let failed = 0;
  const started = now();
  const deadline = started + options.durationMs;
  const worker = async () => {
    while (now() < deadline && !options.stop?.()) {
      const t0 = now();
      try {
        await options.call();
        samples.add(t0, now() - t0);
        completed++;
      } catch (error) {
        failed++;
        if (errors.length < (options.keepErrors ?? 5)) errors.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return { completed, failed, errors, elapsedMs: now() - started, samples };
}

/** Several runs of the same load as one (counts and samples summed, elapsed added up). */
export function mergeResults(results: LoadResult[]): LoadResult {
  const samples = new Samples();
  results.forEach((r) => samples.merge(r.samples));
  return {
    completed: results.reduce((n, r) => n + r.completed, 0),
    failed: results.reduce((n, r) => n + r.failed, 0),
    errors: results.flatMap((r) => r.errors).slice(0, 10),
    elapsedMs: results.reduce((n, r) => n + r.elapsedMs, 0),
    samples,
  };
}

export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.constructor.name}${code ? ` (${String(code)})` : ''}: ${error.message}`;
  }
  return String(error);
}

/** A payload of `size` bytes starting with the 'good' fixture's magic, and its byte sum. */
export function payload(size: number): { data: Uint8Array; sum: number } {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i * 31 + 7) & 0xff;
  data.set(new TextEncoder().encode('DEMO').subarray(0, size));
  let sum = 0;
  for (let i = 0; i < size; i++) sum = (sum + data[i]!) >>> 0;
  return { data, sum };
}

export function kib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)}MiB` : `${bytes / 1024}KiB`;
}

/** RSS of a process from /proc (bytes), or null when it is gone or /proc is unavailable. */
export async function procRssBytes(pid: number): Promise<number | null> {
  try {
    const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** CPU time (user + system, ms) a process has used, from /proc/<pid>/stat; null when unavailable. */
export function procCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return null;
  }
}

export { isAlive } from '../test/support/assertions.js';

let cacheDir: Promise<string> | undefined;

/** One transpile cache for every benchmark of a run, so each fixture is transpiled once. */
export function sharedCacheDir(): Promise<string> {
  cacheDir ??= fs.mkdtemp(path.join(os.tmpdir(), 'pk-bench-cache-'));
  return cacheDir;
}

export async function removeSharedCache(): Promise<void> {
  if (cacheDir) await fs.rm(await cacheDir, { recursive: true, force: true });
  cacheDir = undefined;
}

/** A plugin runtime over a temporary cache; `close()` drains every pool and removes the folder. */
export class BenchRuntime {
  readonly runtime: PluginRuntime;
  readonly events: RuntimeEvent[] = [];
  readonly stderrLines: string[] = [];
  private readonly pools = new Set<VersionPool>();
  private readonly prepared = new Map<FixtureName, PreparedComponent>();

  private constructor(readonly dir: string, cacheDir: string, config: Partial<RuntimeConfig>) {
    this.runtime = new PluginRuntime({ cacheDir, ...config });
  }

  /** `dir` is the plugins' working folder; the transpile cache is shared by the whole run. */
  static async create(config: Partial<RuntimeConfig> = {}): Promise<BenchRuntime> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-bench-'));
    return new BenchRuntime(dir, await sharedCacheDir(), config);
  }

  /** Builds (fixture) and transpiles (runtime) a fixture once per BenchRuntime. */
  async prepare(name: FixtureName): Promise<PreparedComponent> {
    let component = this.prepared.get(name);
    if (!component) {
      component = await this.runtime.prepare(await fixtureWasm(name));
      this.prepared.set(name, component);
    }
    return component;
  }

  async start(
    name: FixtureName,
    limits: Partial<PoolLimits> = {},
    extra: { version?: string; expectedFormatKey?: string; onEvent?: (event: RuntimeEvent) => void } = {},
  ): Promise<VersionPool> {
    const component = await this.prepare(name);
    const pool = await this.runtime.startVersion({
      version: extra.version ?? '1.0.0',
      component,
      cwd: this.dir,
      limits: { memoryMb: 64, timeoutMs: 5000, instances: 1, ...limits },
      expectedFormatKey: extra.expectedFormatKey,
      onEvent: (event) => {
        this.events.push(event);
        extra.onEvent?.(event);
      },
      log: (line) => {
        if (this.stderrLines.length < 200) this.stderrLines.push(line);
      },
    });
    this.track(pool);
    return pool;
  }

  /** Pools started elsewhere (e.g. by a reload) that `close()` must drain too. */
  track(pool: VersionPool): void {
    this.pools.add(pool);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pools].map((pool) => pool.drain()));
    this.pools.clear();
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}

export type { FixtureName };
