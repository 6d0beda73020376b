/**
 * isolation: latency of a healthy plugin ('good', 1 KiB) while another plugin ('loop', 300 ms
 * time limit) times out over and over (a driver keeps two calls on it, so its child is
 * killed and respawned continuously), against the healthy plugin alone (baseline).
 *
 * Two load shapes on the healthy plugin: sequential (one call in flight, back to back) and
 * paced (one call every 2 ms, one at a time). Solo and troubled blocks alternate (4 rounds
 * each) so a machine whose load drifts affects both sides alike; between blocks the looping
 * plugin is left to finish its last kill and respawn, so solo blocks are really solo.
 * Target: p99 under trouble within 2 ms of the solo p99.
 */
import { ParseMetadata } from '../protocol/methods.js';
import type { VersionPool } from '../supervisor/runtime/pool.js';
import {
  BenchRuntime,
  closedLoop,
  describeError,
  LoopLag,
  mergeResults,
  ms,
  note,
  now,
  payload,
  report,
  Samples,
  sleep,
  type LoadResult,
} from './lib.js';

const LOOP_TIMEOUT_MS = 300;
const PACE_MS = 2;
const ROUNDS = 4;

export async function run(): Promise<void> {
  const env = await BenchRuntime.create();
  let trouble: Trouble | undefined;
  try {
    const healthy = await env.start('good', { timeoutMs: 5000 });
    const looping = await env.start('loop', { timeoutMs: LOOP_TIMEOUT_MS }, { version: '6.6.6' });
    const { data, sum } = payload(1024);
    const call = async () => {
      const metadata = await healthy.call(ParseMetadata, { path: 'bench/a.demo', data });
      if (metadata.version !== String(sum)) throw new Error(`wrong answer: ${metadata.version}`);
    };
    await closedLoop({ concurrency: 1, durationMs: ms(500), call });

    const outcomes = new Map<string, number>();
    const eventsBefore = env.events.length;
    const shapes: Array<[string, (durationMs: number) => Promise<LoadResult>]> = [
      ['sequential', (durationMs) => closedLoop({ concurrency: 1, durationMs, call })],
      [`paced_${PACE_MS}ms`, (durationMs) => paced(call, durationMs)],
    ];
    const bench = 'isolation';
    // How long this (supervisor) process's event loop was held up, alone and under trouble:
    // whatever stalls it (spawning the replacement child, say) delays every plugin's calls.
    const loopLag = { solo: new LoopLag(), trouble: new LoopLag() };
    const during = async <T>(lag: LoopLag, work: () => Promise<T>): Promise<T> => {
      lag.start();
      try {
        return await work();
      } finally {
        lag.stop();
      }
    };
    for (const [shape, measure] of shapes) {
      const solos: LoadResult[] = [];
      const troubled: LoadResult[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        solos.push(await during(loopLag.solo, () => measure(ms(600))));
        trouble = startTrouble(looping, outcomes);
        troubled.push(await during(loopLag.trouble, () => measure(ms(1200))));
        await trouble.stop();
        trouble = undefined;
        await settled(env, eventsBefore);
      }
      const solo = mergeResults(solos);
      const under = mergeResults(troubled);
      const us = (r: LoadResult, p: number) => r.samples.percentile(p) * 1000;
      report({ bench, metric: `p50_${shape}`, value: us(under, 50), unit: 'us', baseline: us(solo, 50) });
      report({ bench, metric: `p99_${shape}`, value: us(under, 99), unit: 'us', baseline: us(solo, 99) });
      report({ bench, metric: `p99.9_${shape}`, value: us(under, 99.9), unit: 'us', baseline: us(solo, 99.9) });
      report({ bench, metric: `max_${shape}`, value: under.samples.max() * 1000, unit: 'us', baseline: solo.samples.max() * 1000 });
      report({
        bench,
        metric: `throughput_${shape}`,
        value: (under.completed * 1000) / under.elapsedMs,
        unit: 'calls/s',
        baseline: (solo.completed * 1000) / solo.elapsedMs,
      });
      if (under.failed + solo.failed > 0) {
        report({ bench, metric: `healthy_failed_${shape}`, value: under.failed + solo.failed, unit: 'calls' });
        note(`isolation ${shape}: healthy calls failed: ${[...under.errors, ...solo.errors].map(describeError).join(' | ')}`);
      }
      const delta = us(under, 99) - us(solo, 99);
      note(`isolation target ${shape} p99 within 2 ms of solo: ${delta <= 2000 ? 'MET' : 'MISSED'} (${delta >= 0 ? '+' : ''}${Math.round(delta)} us)`);
    }
    report({ bench, metric: 'supervisor_loop_lag_p99', value: loopLag.trouble.percentile(99), unit: 'ms', baseline: loopLag.solo.percentile(99) });
    report({ bench, metric: 'supervisor_loop_lag_max', value: loopLag.trouble.max(), unit: 'ms', baseline: loopLag.solo.max() });
    const troubleEvents = env.events.slice(eventsBefore);
    report({ bench, metric: 'loop_timeouts', value: troubleEvents.filter((e) => e.type === 'limit_exceeded').length, unit: 'kills' });
    report({ bench, metric: 'loop_respawns', value: troubleEvents.filter((e) => e.type === 'restarted').length, unit: 'restarts' });
    note(
      `isolation: looping plugin call outcomes ${JSON.stringify(Object.fromEntries(outcomes))}; its pool ${looping.state}; ` +
        `events ${JSON.stringify(countBy(troubleEvents.map((e) => e.type)))}`,
    );
    checkHealthy(healthy);
  } finally {
    await trouble?.stop();
    await env.close();
  }
}

interface Trouble {
  stop(): Promise<void>;
}

/** Two drivers keeping calls on the looping plugin, so it times out back to back. */
function startTrouble(looping: VersionPool, outcomes: Map<string, number>): Trouble {
  let stopped = false;
  const driver = async () => {
    while (!stopped && looping.state === 'running') {
      try {
        await looping.call(ParseMetadata, { path: 'x', data: new Uint8Array([1]) });
        count(outcomes, 'succeeded?!');
      } catch (error) {
        count(outcomes, (error as { code?: string }).code ?? (error as Error).constructor.name);
      }
    }
  };
  const drivers = Promise.all([driver(), driver()]);
  return {
    async stop() {
      stopped = true;
      await Promise.race([drivers, sleep(LOOP_TIMEOUT_MS * 4 + 2000)]);
    },
  };
}

/** Waits until every kill of the looping plugin has been followed by its respawn (at most 3 s). */
async function settled(env: BenchRuntime, since: number): Promise<void> {
  const deadline = now() + 3000;
  while (now() < deadline) {
    const events = env.events.slice(since);
    const kills = events.filter((e) => e.type === 'limit_exceeded' || e.type === 'crashed').length;
    const respawns = events.filter((e) => e.type === 'restarted').length;
    if (respawns >= kills) break;
    await sleep(20);
  }
  await sleep(100);
}

/** One call every `PACE_MS` (on a schedule, not after the previous answer), one at a time. */
async function paced(call: () => Promise<void>, durationMs: number): Promise<LoadResult> {
  const samples = new Samples();
  const errors: unknown[] = [];
  let completed = 0;
  let failed = 0;
  const started = now();
  for (let i = 0; ; i++) {
    const due = started + i * PACE_MS;
    if (due > started + durationMs) break;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    const t0 = now();
    try {
      await call();
      samples.add(t0, now() - t0);
      completed++;
    } catch (error) {
      failed++;
      if (errors.length < 5) errors.push(error);
    }
  }
  return { completed, failed, errors, elapsedMs: now() - started, samples };
}

function count(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function countBy(keys: string[]): Record<string, number> {
  const map = new Map<string, number>();
  keys.forEach((key) => count(map, key));
  return Object.fromEntries(map);
}

function checkHealthy(pool: VersionPool): void {
  if (pool.state !== 'running' || pool.restarts > 0) {
    note(`isolation: the healthy pool was disturbed: state ${pool.state}, ${pool.restarts} restarts`);
  }
}
