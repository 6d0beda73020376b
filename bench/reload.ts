/**
 * reload: continuous parse-metadata calls through the routing table (16 closed-loop
 * workers, 1 KiB) while the 'demo' plugin is reloaded every second: a new pool and
 * WasmFormatHandler are started, swapped into the routing table, and the old one drained.
 *
 * Baseline: the same load for 5 s with no reload. Figures: calls made and failed (must be
 * 0), p99 in windows around each reload (from the start of the new pool until 100 ms after
 * the old one is drained), p99 over the whole reload phase, and how long reloads take.
 */
import { bytesSource } from '../supervisor/formats/artifact-source.js';
import type { CapabilitySet } from '../supervisor/store/store.js';
import { RoutingTable } from '../supervisor/formats/routing.js';
import { WasmFormatHandler } from '../supervisor/formats/wasm-handler.js';
import { fixtureWasm } from '../test/support/fixtures.js';
import {
  BenchRuntime,
  closedLoop,
  describeError,
  isAlive,
  median,
  ms,
  note,
  now,
  payload,
  report,
  sleep,
  type LoadResult,
} from './lib.js';

const capabilities: CapabilitySet = { parse_metadata: true, validate_artifact: true, generate_index: true, handle_request: false };
const WORKERS = 16;
const RELOAD_EVERY_MS = 1000;
const WINDOW_AFTER_MS = 100;

interface Reload {
  startedAt: number;
  readyAt: number;
  drainedAt: number;
}

export async function run(): Promise<void> {
  const env = await BenchRuntime.create();
  const routing = new RoutingTable();
  try {
    const wasm = await fixtureWasm('good');
    const startHandler = async (version: string) => {
      // What a reload does: check/transpile (a cache hit after the first), then start children.
      const component = await env.runtime.prepare(wasm);
      const pool = await env.runtime.startVersion({
        version,
        component,
        cwd: env.dir,
        limits: { memoryMb: 64, timeoutMs: 5000, instances: 1 },
        expectedFormatKey: 'demo',
        onEvent: (event) => env.events.push(event),
      });
      env.track(pool);
      return new WasmFormatHandler('demo', capabilities, component.sha256, pool);
    };

    routing.activate('bench', await startHandler('1.0.0'), true);
    const { data, sum } = payload(1024);
    let wrong = 0;
    const call = async () => {
      const metadata = await routing.require('demo').parseMetadata('bench/a.demo', bytesSource(data));
      if (metadata.version !== String(sum)) {
        wrong++;
        throw new Error(`wrong answer: ${metadata.version}`);
      }
    };

    // Steady state, no reload (after a warm-up).
    await closedLoop({ concurrency: WORKERS, durationMs: ms(500), call });
    const steady = await closedLoop({ concurrency: WORKERS, durationMs: ms(5000), call });

    // The same load while reloading every second.
    const phaseMs = ms(20_000);
    const reloads: Reload[] = [];
    const leaked: number[] = [];
    let reloadError: unknown;
    let version = 1;
    const phaseStart = now();
    const load = closedLoop({ concurrency: WORKERS, durationMs: phaseMs, call, keepErrors: 10 });
    const reloader = (async () => {
      for (let i = 0; ; i++) {
        const at = phaseStart + RELOAD_EVERY_MS / 2 + i * RELOAD_EVERY_MS;
        if (at > phaseStart + phaseMs - 300) break;
        await sleep(Math.max(0, at - now()));
        const startedAt = now();
        const next = await startHandler(`1.0.${version++}`);
        const readyAt = now();
        const previous = routing.replace('bench', next)!;
        const oldPids = previous.pids();
        await previous.drain();
        const drainedAt = now();
        reloads.push({ startedAt, readyAt, drainedAt });
        leaked.push(...oldPids.filter(isAlive));
      }
    })().catch((error: unknown) => {
      reloadError = error;
    });
    const [loaded] = await Promise.all([load, reloader]);
    if (reloadError) note(`reload: a reload failed: ${describeError(reloadError)}`);

    printFigures(steady, loaded, reloads, leaked.length, wrong);
  } finally {
    await Promise.allSettled(routing.retireAll().map((handler) => handler.drain()));
    await env.close();
  }
}

function printFigures(steady: LoadResult, loaded: LoadResult, reloads: Reload[], leaked: number, wrong: number): void {
  const bench = 'reload';
  const windows = reloads.map((r): [number, number] => [r.startedAt, r.drainedAt + WINDOW_AFTER_MS]);
  const inWindows = loaded.samples.within(windows);
  const steadyP99 = steady.samples.percentile(99) * 1000;
  const steadyRate = (steady.completed * 1000) / steady.elapsedMs;

  report({ bench, metric: 'reloads', value: reloads.length, unit: 'reloads' });
  report({ bench, metric: 'calls_made', value: loaded.completed + loaded.failed, unit: 'calls' });
  report({ bench, metric: 'calls_failed', value: loaded.failed, unit: 'calls' });
  report({ bench, metric: 'throughput_during_reloads', value: (loaded.completed * 1000) / loaded.elapsedMs, unit: 'calls/s', baseline: steadyRate });
  report({ bench, metric: 'p99_in_reload_windows', value: inWindows.percentile(99) * 1000, unit: 'us', baseline: steadyP99 });
  report({ bench, metric: 'p99_whole_reload_phase', value: loaded.samples.percentile(99) * 1000, unit: 'us', baseline: steadyP99 });
  report({ bench, metric: 'max_in_reload_windows', value: inWindows.max() * 1000, unit: 'us', baseline: steady.samples.max() * 1000 });
  report({ bench, metric: 'p50_in_reload_windows', value: inWindows.percentile(50) * 1000, unit: 'us', baseline: steady.samples.percentile(50) * 1000 });
  report({ bench, metric: 'reload_start_to_ready_median', value: median(reloads.map((r) => r.readyAt - r.startedAt)), unit: 'ms' });
  report({ bench, metric: 'reload_drain_median', value: median(reloads.map((r) => r.drainedAt - r.readyAt)), unit: 'ms' });
  report({ bench, metric: 'old_children_alive_after_drain', value: leaked, unit: 'processes' });

  note(`reload: ${inWindows.count} calls started inside reload windows; steady run ${steady.completed} calls, ${steady.failed} failed`);
  if (loaded.failed > 0 || steady.failed > 0) {
    note(`reload: FAILURES (${wrong} wrong answers): ${loaded.errors.concat(steady.errors).map(describeError).join(' | ')}`);
  }
  note(`reload target calls_failed = 0: ${loaded.failed === 0 ? 'MET' : 'MISSED'}`);
}
