/**
 * `plugin-keeper logs <plugin> [-f]`: the plugin's output lines from every node, oldest
 * first (`GET /plugins/:id/logs`); `-f` then follows them (`GET /plugins/:id/logs/stream`,
 * Server-Sent Events whose id is the line's seq), reconnecting from the last line seen.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Command, type Output, UsageError } from '../command.js';
import { parseCommandLine } from '../author/args.js';
import { CONNECTION_HELP, RestClient, ServiceAnswered } from './client.js';
import { resolvePlugin } from './lookup.js';
import { LOG_STREAMS } from '../../protocol/log-lines.js';
import type { PluginLogRow } from '../../supervisor/store/store.js';

/** A line as the logs routes answer it. */
export type LogLine = PluginLogRow;

/** Waits between reconnections of `-f`, growing to the last. */
const RECONNECT_MS = [500, 1000, 2000, 5000];

export const logsCommand: Command = {
  name: 'logs',
  summary: "show a plugin's output lines; -f follows them",
  usage: `usage: plugin-keeper logs <plugin> [-f] [--since 10m|TIME] [--limit N] [--stream stdout|stderr|host] [--json]

<plugin> is the plugin's name or id. Shows the newest lines (of every node), oldest first.

  -f, --follow   then print new lines as they come, until Ctrl-C
  --since S      only lines from the last S (10m, 2h...) or since an RFC 3339 time
  --limit N      at most the newest N lines
  --stream S     only stdout, stderr or host (the host's own lines about the plugin)
  --json         one JSON object per line: {seq, time, node_id, pid, version, stream, text}

${CONNECTION_HELP}`,

  async run(args, output) {
    const { values, positionals } = parseCommandLine(
      args,
      {
        follow: { type: 'boolean', short: 'f' },
        since: { type: 'string' },
        limit: { type: 'string' },
        stream: { type: 'string' },
        json: { type: 'boolean' },
      },
      1,
    );
    if (positionals[0] === undefined) throw new UsageError('logs needs the plugin (its name or id)');
    if (values.stream !== undefined && !(LOG_STREAMS as readonly string[]).includes(values.stream)) throw new UsageError(`--stream must be one of ${LOG_STREAMS.join(', ')}`);
    if (values.limit !== undefined && !/^\d+$/.test(values.limit)) throw new UsageError('--limit must be a whole number');
    const client = RestClient.fromEnv();
    const plugin = await resolvePlugin(client, positionals[0]);
    const route = `/plugins/${plugin.id}/logs`;
    const print = (line: LogLine) => output.out(values.json ? JSON.stringify(line) : formatLine(line));

    const { items } = await client.call<{ items: LogLine[]; next: unknown }>('GET', route, {
      query: { since: values.since, limit: values.limit, stream: values.stream },
    });
    items.forEach(print);
    if (!values.follow) return 0;
    // The stream route takes no filter: other streams' lines are dropped here.
    const wanted = (line: LogLine) => values.stream === undefined || line.stream === values.stream;
    await follow(client, `${route}/stream`, items.at(-1)?.seq, (line) => {
      if (wanted(line)) print(line);
    }, output);
    return 0;
  },
};

function formatLine(line: LogLine): string {
  return `${line.time} ${line.node_id} ${line.pid ?? '-'} ${line.version} ${line.stream}: ${line.text}`;
}

/**
 * Follows the stream until the process is stopped; a dropped connection is opened again
 * from the last seq received (`Last-Event-ID`), so no line is shown twice or skipped. With
 * no line yet, it starts from the service's newest. An answer with an error (the plugin
 * uninstalled, the token revoked) ends it as a failure.
 */
async function follow(
  client: RestClient,
  route: string,
  lastSeq: number | undefined,
  onLine: (line: LogLine) => void,
  output: Output,
): Promise<never> {
  for (let failures = 0; ; ) {
    try {
      const response = await client.send('GET', route, {
        stream: true,
        headers: { accept: 'text/event-stream', ...(lastSeq !== undefined ? { 'last-event-id': String(lastSeq) } : {}) },
      });
      failures = 0;
      for await (const data of serverSentData(response)) {
        if (data === '') continue;
        const line = JSON.parse(data) as LogLine;
        lastSeq = line.seq;
        onLine(line);
      }
    } catch (error) {
      if (error instanceof ServiceAnswered) throw error;
      // Said once per outage, not at every attempt.
      if (failures++ === 0) output.err(`plugin-keeper: ${(error as Error).message}; reconnecting`);
    }
    await sleep(RECONNECT_MS[Math.min(failures, RECONNECT_MS.length - 1)]!);
  }
}

/**
 * The data of each event of a text/event-stream body (the WHATWG format: `data:` lines, a
 * blank line ends an event; comments and the other fields are not needed: a line's seq is
 * in its data).
 */
async function* serverSentData(response: Response): AsyncGenerator<string> {
  if (!response.body) return;
  const decoder = new TextDecoder();
  let buffered = '';
  let data: string[] = [];
  for await (const chunk of response.body) {
    buffered += decoder.decode(chunk, { stream: true });
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines.map((raw) => raw.replace(/\r$/, ''))) {
      if (line === '') {
        if (data.length > 0) yield data.join('\n');
        data = [];
      } else if (line === 'data' || line.startsWith('data:')) {
        data.push(line.slice(5).replace(/^ /, ''));
      }
    }
  }
}
