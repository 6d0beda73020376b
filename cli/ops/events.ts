/** `plugin-keeper events <plugin>`: the plugin's lifecycle events, newest first. */
import type { PluginEventRow } from '../../supervisor/store/store.js';
import { type Command, UsageError } from '../command.js';
import { parseCommandLine } from '../author/args.js';
import { CONNECTION_HELP, RestClient } from './client.js';
import { resolvePlugin } from './lookup.js';
import { renderTable } from './table.js';

const SEVERITIES = ['info', 'warning', 'error'];

export const eventsCommand: Command = {
  name: 'events',
  summary: "show a plugin's lifecycle events, newest first",
  usage: `usage: plugin-keeper events <plugin> [--severity info|warning|error] [--limit N] [--json]

<plugin> is the plugin's name or id.

  --severity S   only events of that severity
  --limit N      at most N events, 1 to 100 (default 50)
  --json         {"items": [...]} as the service gives them

${CONNECTION_HELP}`,

  async run(args, output) {
    const { values, positionals } = parseCommandLine(
      args,
      { severity: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } },
      1,
    );
    if (positionals[0] === undefined) throw new UsageError('events needs the plugin (its name or id)');
    if (values.severity !== undefined && !SEVERITIES.includes(values.severity)) {
      throw new UsageError(`--severity must be one of ${SEVERITIES.join(', ')}`);
    }
    if (values.limit !== undefined && !/^\d+$/.test(values.limit)) throw new UsageError('--limit must be a whole number');
    const client = RestClient.fromEnv();
    const plugin = await resolvePlugin(client, positionals[0]);
    const { items } = await client.call<{ items: PluginEventRow[] }>('GET', `/plugins/${plugin.id}/events`, {
      query: { severity: values.severity, limit: values.limit },
    });
    if (values.json) {
      output.out(JSON.stringify({ items }, null, 2));
      return 0;
    }
    const columns = ['TIME', 'SEVERITY', 'EVENT', 'NODE', 'MESSAGE'].map((title) => ({ title }));
    const rows = items.map((event) => [event.created_at, event.severity, event.event_type, event.node_id ?? '-', event.message]);
    for (const line of renderTable(columns, rows)) output.out(line);
    return 0;
  },
};
