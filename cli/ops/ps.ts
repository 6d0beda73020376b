/**
 * `plugin-keeper ps`: one row per plugin process on every live node (like `pm2 ls`), read
 * as `GET /plugins` then each plugin's `GET /plugins/:id/processes`. `top` redraws the same
 * table.
 */
import type { ProcessView } from '../../supervisor/services/contracts.js';
import type { Command } from '../command.js';
import { parseCommandLine } from '../author/args.js';
import { CONNECTION_HELP, RestClient, ServiceAnswered } from './client.js';
import { listPlugins } from './lookup.js';
import { formatBytes, formatPercent, formatUptime, renderTable, type Column } from './table.js';

export type ProcessRow = ProcessView & { plugin: string; plugin_id: string };

/** How many plugins' processes are asked for at once. */
const PARALLEL_REQUESTS = 8;

export async function readProcesses(client: RestClient): Promise<ProcessRow[]> {
  const plugins = await listPlugins(client);
  const rows: ProcessRow[] = [];
  for (let start = 0; start < plugins.length; start += PARALLEL_REQUESTS) {
    const batch = plugins.slice(start, start + PARALLEL_REQUESTS);
    const answers = await Promise.all(
      batch.map((plugin) =>
        client.call<{ items: ProcessView[] }>('GET', `/plugins/${plugin.id}/processes`).catch((error: unknown) => {
          // Uninstalled since the list was read: it has no processes to show.
          if (error instanceof ServiceAnswered && error.status === 404) return { items: [] };
          throw error;
        }),
      ),
    );
    batch.forEach((plugin, index) => {
      for (const process of answers[index]!.items) rows.push({ plugin: plugin.name, plugin_id: plugin.id, ...process });
    });
  }
  return rows.sort((a, b) => a.plugin.localeCompare(b.plugin) || a.node_id.localeCompare(b.node_id) || (a.pid ?? 0) - (b.pid ?? 0));
}

const COLUMNS: Column[] = [
  { title: 'PLUGIN' },
  { title: 'VERSION' },
  { title: 'NODE' },
  { title: 'PID', align: 'right' },
  { title: 'STATE' },
  { title: 'UPTIME', align: 'right' },
  { title: 'RSS', align: 'right' },
  { title: 'WASM MEM', align: 'right' },
  { title: 'CPU', align: 'right' },
  { title: 'IN FLIGHT', align: 'right' },
  { title: 'CALLS', align: 'right' },
  { title: 'ERRORS', align: 'right' },
  { title: 'RESTARTS', align: 'right' },
];

export function processTable(rows: readonly ProcessRow[], now = Date.now()): string[] {
  return renderTable(
    COLUMNS,
    rows.map((row) => [
      row.plugin,
      row.version,
      row.node_id,
      row.pid === null ? '-' : String(row.pid),
      row.state,
      formatUptime(row.started_at, now),
      formatBytes(row.rss_bytes),
      formatBytes(row.wasm_memory_bytes),
      formatPercent(row.cpu_percent),
      String(row.in_flight),
      String(row.calls_total),
      String(row.errors_total),
      String(row.restarts),
    ]),
  );
}

export const psCommand: Command = {
  name: 'ps',
  summary: 'list every plugin process on every node, with its figures',
  usage: `usage: plugin-keeper ps [--json]

One row per plugin process on every live node: plugin, version, node, pid, state, uptime,
RSS, wasm memory, CPU %, calls in flight, calls, errors, restarts.

  --json   {"items": [...]}: each process as the service gives it, with plugin and plugin_id

${CONNECTION_HELP}`,

  async run(args, output) {
    const { values } = parseCommandLine(args, { json: { type: 'boolean' } }, 0);
    const rows = await readProcesses(RestClient.fromEnv());
    if (values.json) {
      output.out(JSON.stringify({ items: rows }, null, 2));
      return 0;
    }
    for (const line of processTable(rows)) output.out(line);
    if (rows.length === 0) output.err('no plugin process is running');
    return 0;
  },
};
