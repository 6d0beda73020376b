/**
 * startup: spawn to ready (startVersion of a 1-instance pool, which resolves once the child
 * has loaded its component and answered) and idle RSS per child (/proc/<pid>/status VmRSS,
 * 300 ms after ready), median of 10 starts, for the 'good' WAT fixture and the 'js-handler'
 * componentize-js fixture.
 *
 * Baseline: a bare `node` child (no sandbox, no host, no component) from spawn to its first
 * byte on stdout, and its RSS at the same moment: the floor any child process pays.
 */
import { spawn } from 'node:child_process';
import type { FixtureName } from '../test/support/fixtures.js';
import { BenchRuntime, median, note, now, procRssBytes, report, sleep } from './lib.js';

const STARTS = 10;
const SETTLE_MS = 300;
const FIXTURES: Array<{ name: FixtureName; label: string; memoryMb: number }> = [
  { name: 'good', label: 'wat', memoryMb: 64 },
  { name: 'js-handler', label: 'js', memoryMb: 128 },
];

export async function run(): Promise<void> {
  const bench = 'startup';
  const bare = await bareNode();
  const bareStart = median(bare.map((s) => s.startMs));
  const bareRss = median(bare.map((s) => s.rssMb));

  const env = await BenchRuntime.create();
  try {
    note(`startup: sandbox ${env.runtime.settings.sandbox.describe()}`);
    for (const fixture of FIXTURES) {
      const prepareStarted = now();
      await env.prepare(fixture.name);
      note(`startup: ${fixture.name} built and transpiled in ${Math.round(now() - prepareStarted)} ms`);
      // One start to warm the file cache; not counted.
      await (await env.start(fixture.name, { memoryMb: fixture.memoryMb })).drain();

      const startMs: number[] = [];
      const rssMb: number[] = [];
      for (let i = 0; i < STARTS; i++) {
        const t0 = now();
        const pool = await env.start(fixture.name, { memoryMb: fixture.memoryMb });
        startMs.push(now() - t0);
        await sleep(SETTLE_MS);
        const pid = pool.pids()[0];
        const rss = pid === undefined ? null : await procRssBytes(pid);
        if (rss !== null) rssMb.push(rss / (1024 * 1024));
        await pool.drain();
      }
      report({ bench, metric: `spawn_to_ready_${fixture.label}`, value: median(startMs), unit: 'ms', baseline: bareStart });
      report({ bench, metric: `idle_rss_${fixture.label}`, value: median(rssMb), unit: 'MB', baseline: bareRss });
      note(`startup ${fixture.label}: starts ${startMs.map(Math.round).join(', ')} ms; rss ${rssMb.map(Math.round).join(', ')} MB`);
    }
  } finally {
    await env.close();
  }
}

/** Spawn-to-first-byte and RSS of a bare node child, STARTS times. */
async function bareNode(): Promise<Array<{ startMs: number; rssMb: number }>> {
  const results: Array<{ startMs: number; rssMb: number }> = [];
  for (let i = 0; i <= STARTS; i++) {
    const t0 = now();
    const child = spawn(process.execPath, ['-e', "process.stdout.write('r'); setInterval(() => {}, 1000)"], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.stdout.once('data', () => resolve());
    });
    const startMs = now() - t0;
    await sleep(SETTLE_MS);
    const rss = child.pid === undefined ? null : await procRssBytes(child.pid);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    if (i > 0 && rss !== null) results.push({ startMs, rssMb: rss / (1024 * 1024) }); // first one warms up
  }
  return results;
}
