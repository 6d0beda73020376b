/**
 * `plugin-keeper top`: ps's table redrawn in place about every second on the terminal's
 * alternate screen, sorted by CPU or memory; `c`/`m` change the order, `q` or Ctrl-C quit.
 * The terminal is given back as it was (main screen, cursor shown, raw mode off) however
 * top ends: quit, a signal, or an error. Plain ANSI escapes, no dependency.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Command, type Output, UsageError } from '../command.js';
import { parseCommandLine } from '../author/args.js';
import { CONNECTION_HELP, RestClient } from './client.js';
import { processTable, readProcesses, type ProcessRow } from './ps.js';

type SortKey = 'cpu' | 'memory';
const SORT_KEYS: readonly SortKey[] = ['cpu', 'memory'];
const SORT_NAMES: Record<SortKey, string> = { cpu: 'CPU', memory: 'memory (RSS)' };
const DEFAULT_INTERVAL_SECS = 1;
const REFRESH_TIMEOUT_MS = 10_000;

const ESC = '\x1b[';
const ENTER_SCREEN = `${ESC}?1049h${ESC}?25l`;
const LEAVE_SCREEN = `${ESC}?25h${ESC}?1049l`;
const CTRL_C = '\x03';

export const topCommand: Command = {
  name: 'top',
  summary: 'the ps table, live: sort by CPU or memory, q to quit',
  usage: `usage: plugin-keeper top [--sort cpu|memory] [--interval SECONDS] [--json]

ps's table redrawn in place every second (--interval), busiest first.
Keys: c sorts by CPU, m by memory (RSS), q or Ctrl-C quits.

  --json   no screen: one JSON line {"time", "items"} per refresh, until interrupted

${CONNECTION_HELP}`,

  async run(args, output) {
    const { values } = parseCommandLine(args, { sort: { type: 'string' }, interval: { type: 'string' }, json: { type: 'boolean' } }, 0);
    const sort = (values.sort ?? 'cpu') as SortKey;
    if (!SORT_KEYS.includes(sort)) throw new UsageError(`--sort must be ${SORT_KEYS.join(' or ')}`);
    const intervalSecs = values.interval === undefined ? DEFAULT_INTERVAL_SECS : Number(values.interval);
    if (!(intervalSecs >= 0.2 && intervalSecs <= 3600)) throw new UsageError('--interval must be a number of seconds from 0.2 to 3600');
    const quit = new AbortController();
    // A refresh that hangs is said on the screen within a few intervals, not minutes later.
    const client = RestClient.fromEnv({ signal: quit.signal, timeoutMs: Math.max(REFRESH_TIMEOUT_MS, 3 * intervalSecs * 1000) });
    if (values.json) return jsonLines(client, intervalSecs, output);
    if (!process.stdin.isTTY || !process.stdout.isTTY) throw new UsageError('top needs a terminal (in scripts: ps --json, or top --json)');
    // A first read before the screen is taken: a wrong URL or token fails as a plain sentence.
    const first = await readProcesses(client);
    return new TopScreen(client, sort, intervalSecs * 1000, quit).run(first);
  },
};

/** One JSON line per refresh, for scripts; Ctrl-C ends it as signals end any command. */
async function jsonLines(client: RestClient, intervalSecs: number, output: Output): Promise<number> {
  for (;;) {
    output.out(JSON.stringify({ time: new Date().toISOString(), items: await readProcesses(client) }));
    await sleep(intervalSecs * 1000);
  }
}

function sortRows(rows: readonly ProcessRow[], key: SortKey): ProcessRow[] {
  const figure = (row: ProcessRow) => (key === 'cpu' ? row.cpu_percent : row.rss_bytes) ?? -1;
  return [...rows].sort((a, b) => figure(b) - figure(a) || a.plugin.localeCompare(b.plugin) || (a.pid ?? 0) - (b.pid ?? 0));
}

class TopScreen {
  private rows: ProcessRow[] = [];
  private problem: string | undefined;
  private readonly terminal = process.stdout;
  private readonly keys = process.stdin;

  constructor(
    private readonly client: RestClient,
    private sort: SortKey,
    private readonly intervalMs: number,
    private readonly quit: AbortController,
  ) {}

  async run(first: ProcessRow[]): Promise<number> {
    const stop = () => this.quit.abort();
    const onKey = (key: string) => this.key(key);
    const redraw = () => this.draw();
    const restore = () => this.leave();
    this.enter();
    process.on('exit', restore);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, stop);
    this.keys.on('data', onKey);
    this.terminal.on('resize', redraw);
    try {
      this.rows = first;
      this.draw();
      while (!this.quit.signal.aborted) {
        await sleep(this.intervalMs, undefined, { signal: this.quit.signal }).catch(() => undefined);
        if (this.quit.signal.aborted) break;
        await this.refresh();
      }
      return 0;
    } finally {
      this.keys.off('data', onKey);
      this.terminal.off('resize', redraw);
      for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(signal, stop);
      process.off('exit', restore);
      this.leave();
    }
  }

  private async refresh(): Promise<void> {
    try {
      this.rows = await readProcesses(this.client);
      this.problem = undefined;
    } catch (error) {
      if (this.quit.signal.aborted) return;
      // The service may be restarting: say so on the screen and keep the last figures.
      this.problem = (error as Error).message;
    }
    this.draw();
  }

  private key(key: string): void {
    const pressed = key.toLowerCase();
    if (pressed === 'q' || key.includes(CTRL_C)) {
      this.quit.abort();
    } else if (pressed === 'c' || pressed === 'm') {
      this.sort = pressed === 'c' ? 'cpu' : 'memory';
      this.draw();
    }
  }

  private draw(): void {
    const width = this.terminal.columns || 80;
    const height = this.terminal.rows || 24;
    const status = `plugin-keeper top  ${this.client.settings.baseUrl}  ${this.rows.length} processes  sorted by ${SORT_NAMES[this.sort]}  ${new Date().toISOString().slice(11, 19)}`;
    const help = this.problem ? `! ${this.problem} (retrying)` : 'c: sort by CPU   m: sort by memory   q: quit';
    let lines = [status, help, '', ...processTable(sortRows(this.rows, this.sort))];
    if (lines.length > height) lines = [...lines.slice(0, height - 1), `… ${lines.length - height + 1} more processes (a taller terminal shows them)`];
    // Home, each line over the old one and cleared to its end, then the rest of the screen.
    this.terminal.write(`${ESC}H${lines.map((line) => `${line.slice(0, width)}${ESC}K`).join('\r\n')}${ESC}J`);
  }

  private entered = false;

  private enter(): void {
    this.entered = true;
    this.keys.setRawMode(true);
    this.keys.setEncoding('utf8');
    this.keys.resume();
    this.terminal.write(ENTER_SCREEN);
  }

  /** Idempotent: called from `finally` and, for a crash, from the process's exit. */
  private leave(): void {
    if (!this.entered) return;
    this.entered = false;
    this.terminal.write(LEAVE_SCREEN);
    this.keys.setRawMode(false);
    this.keys.pause();
  }
}
