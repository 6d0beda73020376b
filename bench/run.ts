/**
 * `npm run bench` runs every benchmark; `npm run bench -- NAME [NAME...]` runs the named ones.
 *
 * Each benchmark is a module `bench/<name>.ts` exporting `async function run()`; they run one
 * after another in this process, each under a hard time limit, and a failing one is reported
 * on stderr (and in the exit code) without stopping the others.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { note, removeSharedCache } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Name → hard time limit (ms). `framing` is listed only when its module was built. */
const BENCHES: Array<[string, number]> = [
  ['rpc', 90_000],
  ['reload', 70_000],
  ['isolation', 60_000],
  ['startup', 60_000],
  ['framing', 60_000],
];

function available(): Array<[string, number]> {
  return BENCHES.filter(([name]) => fs.existsSync(path.join(here, `${name}.js`)));
}

/**
 * Whether a built module declares `export ... function run`. A module without it (framing.ts
 * as first written runs itself at top level when loaded) is started as its own process
 * instead of being imported, so loading it here cannot run it twice or half-way.
 */
function exportsRun(file: string): boolean {
  const source = fs.readFileSync(file, 'utf8');
  return /export\s+(async\s+)?function\s+run\s*\(/.test(source) || /export\s*\{[^}]*\brun\b[^}]*\}/.test(source);
}

/** Runs `node <file>` with this process's stdout and stderr; resolves when it exits with 0. */
function runAsProcess(file: string): { done: Promise<void>; kill: () => void } {
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'inherit', 'inherit'] });
  const done = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${path.basename(file)} exited with code ${code}, signal ${signal}`)),
    );
  });
  return { done, kill: () => child.kill('SIGKILL') };
}

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
  let kill: (() => void) | undefined;
  try {
    const file = path.join(here, `${name}.js`);
    let running: Promise<void>;
    if (exportsRun(file)) {
      const module = (await import(`./${name}.js`)) as { run?: () => Promise<void> };
      if (typeof module.run !== 'function') throw new Error(`bench/${name}.ts exports no run()`);
      running = module.run();
    } else {
      const child = runAsProcess(file);
      kill = child.kill;
      running = child.done;
    }
    await Promise.race([
      running,
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
    kill?.();
  }
}

async function main(): Promise<void> {
  const known = available();
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
