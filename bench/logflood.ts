/**
 * logflood: what a plugin printing in a tight loop costs everybody else. One supervisor
 * (SQLite, default log limits: 200 lines/s, burst 400, 1,000 lines kept) runs a neighbour
 * plugin (good.wat, format `demo`) whose format test is called back to back, one at a time:
 * first with nothing else going on (baseline), then while a second plugin's format-key writes
 * FLOOD_LINES lines to WASI stdout in a loop (at its process start: the install, then a
 * restart). Figures: lines/s offered by the flood, lines kept and dropped, rows and bytes left
 * in the database, the neighbour's call p99 with and without the flood, and the supervisor's
 * event-loop delay and `/health` p99 (probed beside the neighbour) during the flood. Targets: neighbour p99 within 2x of the baseline (or
 * 20 ms), event-loop p99 under 20 ms, never more than PLUGIN_LOG_LINES rows kept.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../supervisor/config.js';
import { startSupervisor } from '../supervisor/supervisor.js';
import { fixtureWasm } from '../test/support/fixtures.js';
import { stdoutLoggerComponent } from '../test/support/stdout-logger.js';
import { makeZip } from '../test/support/zips.js';
import { LoopLag, ms, note, now, probeHealth, report, Samples } from './lib.js';

/** Lines the flood writes per process start; ~1 s of writing on an idle machine. */
const FLOOD_LINES = 300_000;
const FLOOD_TEXT = 'flood: a plugin printing as fast as it can\n';

export async function run(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pk-bench-logflood-'));
  const token = randomBytes(16).toString('hex');
  const config = loadConfig({ DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', ADMIN_TOKEN: token });
  const supervisor = await startSupervisor(config, pino({ level: 'silent' }));
  const headers = { authorization: `Bearer ${token}` };
  const api = async (method: string, target: string, body?: FormData | string) => {
    const answer = await fetch(`${supervisor.url}${target}`, {
      method,
      headers: typeof body === 'string' ? { ...headers, 'content-type': 'application/json' } : headers,
      body,
    });
    return { status: answer.status, text: await answer.text() };
  };
  const install = async (name: string, key: string, wasm: Uint8Array): Promise<string> => {
    const zip = makeZip([
      { name: 'plugin.toml', data: `[plugin]\nname = "${name}"\nversion = "1.0.0"\n[format]\nkey = "${key}"\ndisplay_name = "Bench"\n` },
      { name: 'plugin.wasm', data: Buffer.from(wasm) },
    ]);
    const form = new FormData();
    form.set('file', new Blob([new Uint8Array(zip)]), 'plugin.zip');
    const answer = await api('POST', '/api/v1/plugins/install/zip', form);
    if (answer.status !== 201) throw new Error(`installing ${name} answered ${answer.status}: ${answer.text}`);
    return JSON.parse(answer.text).id;
  };
  /** The neighbour's format test, one call at a time, until `busy` settles (or for `idleMs`). */
  const neighbourCalls = async (busy: Promise<unknown> | null, idleMs: number): Promise<Samples> => {
    const samples = new Samples();
    let done = false;
    busy?.then(() => (done = true), () => (done = true));
    const until = now() + idleMs;
    const body = JSON.stringify({ path: 'a.demo', content: 'DEMO artifact' });
    while (busy ? !done : now() < until) {
      const started = now();
      const answer = await api('POST', '/api/v1/formats/demo/test', body);
      if (answer.status !== 200) throw new Error(`the neighbour's format test answered ${answer.status}: ${answer.text}`);
      samples.add(started, now() - started);
    }
    return samples;
  };
  const droppedTotal = async (): Promise<number> => {
    const metrics = (await api('GET', '/metrics')).text;
    const match = /plugin_keeper_plugin_log_lines_dropped_total\{plugin="flood"[^}]*\} (\d+)/.exec(metrics);
    return match ? Number(match[1]) : 0;
  };

  try {
    await install('neighbour', 'demo', await fixtureWasm('good'));
    const flood = await stdoutLoggerComponent(FLOOD_TEXT, FLOOD_LINES);
    await neighbourCalls(null, ms(500)); // warm up
    const idleLag = new LoopLag();
    idleLag.start();
    const [baseline, idleHealth] = await Promise.all([neighbourCalls(null, ms(3000)), probeHealth(supervisor.url, null, ms(3000))]);
    idleLag.stop();

    const lag = new LoopLag();
    lag.start();
    const started = now();
    /**
     * The host writes the guest's lines to a pipe the supervisor reads as fast as it can; the
     * host buffers what is not read yet (its own memory, under its RSS limit), so the flood
     * reaches the supervisor for a while after format-key returned: wait until it stops.
     */
    const drained = async (before: number) => {
      let previous = before;
      for (const deadline = now() + 60_000; now() < deadline; ) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const current = await droppedTotal();
        if (current === previous && current > before) return;
        previous = current;
      }
      throw new Error('the flood never reached the supervisor');
    };
    // The flood runs at the process's start: during the install, then again after a kill.
    const flooding = (async () => {
      const id = await install('flood', 'logger', flood);
      await drained(0);
      const floodMs = [now() - started];
      const pid = JSON.parse((await api('GET', `/api/v1/plugins/${id}`)).text).runtime.pids[0] as number;
      const restartedAt = now();
      const droppedBefore = await droppedTotal();
      process.kill(pid, 'SIGKILL');
      for (;;) {
        const pids = JSON.parse((await api('GET', `/api/v1/plugins/${id}`)).text).runtime.pids as number[];
        if (pids.length > 0 && pids[0] !== pid) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await drained(droppedBefore);
      floodMs.push(now() - restartedAt);
      return { id, floodMs };
    })();
    const [during, floodHealth] = await Promise.all([neighbourCalls(flooding, 0), probeHealth(supervisor.url, flooding, 0)]);
    const { id, floodMs } = await flooding;
    lag.stop();

    const written = 2 * FLOOD_LINES;
    const dropped = await droppedTotal();
    const page = JSON.parse((await api('GET', `/api/v1/plugins/${id}/logs?limit=1000`)).text) as { items: Array<{ seq: number; stream: string; text: string }> };
    const notices = page.items.filter((line) => line.stream === 'host').length;
    // Every line stored got the next seq: the last one counts them all (those trimmed since included).
    const kept = page.items.at(-1)!.seq - notices;
    const offered = kept + dropped;
    const keptBytes = page.items.reduce((sum, line) => sum + Buffer.byteLength(line.text), 0);
    const seconds = (floodMs[0]! + floodMs[1]!) / 1000;
    note(`baseline ${baseline.count} neighbour calls, ${during.count} during the flood; flood ${floodMs.map(Math.round).join(' + ')} ms (install or restart until the last line was read)`);
    note(`the guest wrote ${written} lines; ${offered} reached the supervisor's log writer; ${notices} host lines among the last 1000`);
    report({ bench: 'logflood', metric: 'lines_offered_per_second', value: offered / seconds, unit: 'lines/s' });
    report({ bench: 'logflood', metric: 'lines_kept', value: kept, unit: 'lines' });
    report({ bench: 'logflood', metric: 'lines_dropped', value: dropped, unit: 'lines' });
    report({ bench: 'logflood', metric: 'rows_left_in_database', value: page.items.length, unit: 'rows' });
    report({ bench: 'logflood', metric: 'bytes_left_in_database', value: keptBytes, unit: 'bytes' });
    report({ bench: 'logflood', metric: 'neighbour_call_p99_during_flood', value: during.percentile(99), unit: 'ms', baseline: baseline.percentile(99) });
    report({ bench: 'logflood', metric: 'health_p99_during_flood', value: floodHealth.percentile(99), unit: 'ms', baseline: idleHealth.percentile(99) });
    report({ bench: 'logflood', metric: 'neighbour_call_p50_during_flood', value: during.percentile(50), unit: 'ms', baseline: baseline.percentile(50) });
    report({ bench: 'logflood', metric: 'event_loop_delay_p99_during_flood', value: lag.percentile(99), unit: 'ms', baseline: idleLag.percentile(99) });
    report({ bench: 'logflood', metric: 'event_loop_delay_max_during_flood', value: lag.max(), unit: 'ms', baseline: idleLag.max() });
  } finally {
    await supervisor.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}
