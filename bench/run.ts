/**
 * `npm run bench` runs every benchmark; `npm run bench -- NAME [NAME...]` runs the named ones.
 *
 * Each benchmark is a module `bench/<name>.ts` exporting `async function run()`; they run one
 * after another in this process, each under a hard time limit, and a failing one is reported
 * on stderr (and in the exit code) without stopping the others.
 */
import fs from 'node:fs';
import os from 'node:os';
import { note, removeSharedCache } from './lib.js';

/** Name → hard time limit (ms). */
const BENCHES: Array<[string, number]> = [
  ['rpc', 90_000],
  ['reload', 70_000],
  ['isolation', 60_000],
  ['startup', 60_000],
  ['framing', 60_000],
  ['install', 120_000],
  ['upload', 90_000],
  ['upload-streaming', 300_000],
  ['hardening', 180_000],
  ['logflood', 120_000],
  ['cluster', 240_000],
];

/** Share of all CPUs busy over `ms` (from /proc/stat), before this process does any work. */
async function machineBusy(ms = 500): Promise<string> {
  const read = () => {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = fields[3]! + (fields[4] ?? 0);
    return { idle, total: fields.reduce((a, b) => a + b, 0) };
  };
  try {
    const a = read();
    await new Promise((resolve) => setTimeout(resolve, ms));
    const b = read();
    return `${Math.round((100 * (1 - (b.idle - a.idle) / (b.total - a.total))))}%`;
  } catch {
    return 'unknown';
  }
}

async function runOne(name: string, limitMs: number): Promise<boolean> {
  note(`${name}: starting; machine busy ${await machineBusy()} just before (other processes)`);
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const module = (await import(`./${name}.js`)) as { run?: () => Promise<void> };
    if (typeof module.run !== 'function') throw new Error(`bench/${name}.ts exports no run()`);
    await Promise.race([
      module.run(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`did not finish within ${limitMs / 1000} s`)), limitMs);
      }),
    ]);
    note(`${name}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return true;
  } catch (error) {
    note(`${name}: FAILED after ${((Date.now() - started) / 1000).toFixed(1)} s: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
    return false;
  } finally {
    clearTimeout(timer);
  }
}

async function main(): Promise<void> {
  const known = BENCHES;
  const requested = process.argv.slice(2);
  const unknown = requested.filter((name) => !known.some(([n]) => n === name));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; available: ${known.map(([n]) => n).join(', ')}\n`);
    process.exit(2);
  }
  const selected = requested.length > 0 ? known.filter(([n]) => requested.includes(n)) : known;
  const started = Date.now();
  const load = () => os.loadavg().map((n) => n.toFixed(2)).join(' ');
  // Other work on the machine moves every figure: say how busy it was.
  note(`${os.cpus().length} CPUs, load average ${load()}, Node ${process.version}`);
  let ok = true;
  for (const [name, limitMs] of selected) ok = (await runOne(name, limitMs)) && ok;
  await removeSharedCache().catch(() => undefined);
  note(`load average ${load()}`);
  note(`all done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  // A benchmark that timed out may have left calls or children behind: exit regardless
  // (execa's cleanup kills the children).
  process.exit(ok ? 0 : 1);
}

await main();
