/**
 * `plugin-keeper plugins ls|install|enable|disable|reload|limits|uninstall`: the plugin
 * lifecycle of the REST API from a terminal. Plugins are named by name or id; `install`
 * picks its route by its argument (a .zip file, a git URL, a directory).
 */
import { openAsBlob } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { InstalledPluginView, PluginView } from '../../supervisor/services/contracts.js';
import type { ResourceLimits } from '../../supervisor/store/store.js';
import { type Command, type Output, UsageError } from '../command.js';
import { parseCommandLine } from '../author/args.js';
import { CONNECTION_HELP, RestClient } from './client.js';
import { listPlugins, resolvePlugin } from './lookup.js';
import { renderTable } from './table.js';

const USAGE = `usage:
  plugin-keeper plugins ls [--json]
  plugin-keeper plugins install <file.zip | git-url | directory> [--ref REF] [--path DIR] [--json]
  plugin-keeper plugins enable <plugin> [--json]
  plugin-keeper plugins disable <plugin> [--json]
  plugin-keeper plugins reload <plugin> [--ref REF | --zip FILE] [--json]
  plugin-keeper plugins limits <plugin> [--memory-mb N] [--timeout-secs N] [--instances N] [--json]
  plugin-keeper plugins uninstall <plugin> [--force] [--json]

<plugin> is the plugin's name or id.
install: a .zip file is uploaded; an http(s):// or git@ URL is cloned by the service (--ref: a
  branch, tag or commit; --path: the folder holding plugin.toml); a directory is read by the
  service itself, so it must be on the service's machine, under its PLUGINS_LOCAL_ROOTS.
reload: the same source again, or another git ref (--ref), or a new ZIP (--zip).
limits: without options, shows the plugin's limits.
uninstall --force: uninstall even when repositories use the plugin's format.
--json prints the plugin as the service answers it (uninstall: {"uninstalled": plugin}).

${CONNECTION_HELP}`;

export const pluginsCommand: Command = {
  name: 'plugins',
  summary: 'list, install, enable, disable, reload, limit and uninstall plugins',
  usage: USAGE,
  async run(args, output) {
    const [action, ...rest] = args;
    const run = ACTIONS[action ?? ''];
    if (!run) throw new UsageError(action === undefined ? 'missing plugins command' : `unknown plugins command "${action}"`);
    return run(rest, output);
  },
};

type Action = (args: string[], output: Output) => Promise<number>;

const ACTIONS: Record<string, Action> = {
  async ls(args, output) {
    const { values } = parseCommandLine(args, { json: { type: 'boolean' } }, 0);
    const plugins = await listPlugins(RestClient.fromEnv());
    if (values.json) {
      output.out(JSON.stringify({ items: plugins }, null, 2));
      return 0;
    }
    const columns = ['NAME', 'VERSION', 'STATUS', 'FORMAT', 'SOURCE', 'MEMORY', 'TIMEOUT', 'INSTANCES', 'ID'].map((title) => ({ title }));
    const rows = plugins.map((plugin) => [
      plugin.name,
      plugin.version,
      plugin.status,
      plugin.format_key,
      plugin.source_type,
      `${plugin.resource_limits.memory_mb} MB`,
      `${plugin.resource_limits.timeout_secs} s`,
      String(plugin.resource_limits.instances),
      plugin.id,
    ]);
    for (const line of renderTable(columns, rows)) output.out(line);
    for (const plugin of plugins.filter((candidate) => candidate.error_message)) output.err(`${plugin.name}: ${plugin.error_message}`);
    return 0;
  },

  async install(args, output) {
    const { values, positionals } = parseCommandLine(
      args,
      { ref: { type: 'string' }, path: { type: 'string' }, json: { type: 'boolean' } },
      1,
    );
    const source = positionals[0];
    if (source === undefined) throw new UsageError('plugins install needs a .zip file, a git URL or a directory');
    const client = RestClient.fromEnv();
    let installed: InstalledPluginView;
    if (/^(https?:\/\/|git@)/.test(source)) {
      installed = await client.call('POST', '/plugins/install/git', { json: { url: source, ref: values.ref, path: values.path } });
    } else {
      if (values.ref !== undefined || values.path !== undefined) throw new UsageError('--ref and --path are for a git URL only');
      const local = path.resolve(source);
      const found = await stat(local).catch(() => null);
      if (found?.isDirectory()) {
        installed = await client.call('POST', '/plugins/install/local', { json: { path: local } });
      } else if (found?.isFile() && local.toLowerCase().endsWith('.zip')) {
        installed = await client.call('POST', '/plugins/install/zip', { form: await zipForm(local) });
      } else {
        throw new UsageError(`"${source}" is neither a .zip file, a git URL (http://, https://, git@) nor a directory`);
      }
    }
    if (values.json) return printJson(output, installed);
    output.out(`installed ${describe(installed)}`);
    for (const warning of installed.warnings ?? []) output.err(`warning: ${warning}`);
    return 0;
  },

  enable: lifecycleCall('enable', 'enabled'),
  disable: lifecycleCall('disable', 'disabled'),

  async reload(args, output) {
    const { values, positionals } = parseCommandLine(
      args,
      { ref: { type: 'string' }, zip: { type: 'string' }, json: { type: 'boolean' } },
      1,
    );
    const name = requirePlugin(positionals, 'reload');
    if (values.ref !== undefined && values.zip !== undefined) throw new UsageError('reload takes --ref or --zip, not both');
    const client = RestClient.fromEnv();
    const plugin = await resolvePlugin(client, name);
    const route = `/plugins/${plugin.id}/reload`;
    const reloaded = await client.call<PluginView>('POST', route, {
      ...(values.zip !== undefined ? { form: await zipForm(path.resolve(values.zip)) } : {}),
      ...(values.ref !== undefined ? { json: { ref: values.ref } } : {}),
    });
    if (values.json) return printJson(output, reloaded);
    output.out(`reloaded ${plugin.name} ${plugin.version} → ${describe(reloaded)}`);
    return 0;
  },

  async limits(args, output) {
    const { values, positionals } = parseCommandLine(
      args,
      {
        'memory-mb': { type: 'string' },
        'timeout-secs': { type: 'string' },
        instances: { type: 'string' },
        json: { type: 'boolean' },
      },
      1,
    );
    const name = requirePlugin(positionals, 'limits');
    const limits: Partial<ResourceLimits> = {};
    for (const [field, option] of LIMIT_OPTIONS) {
      const raw = values[option];
      if (raw === undefined) continue;
      if (!/^\d+$/.test(raw)) throw new UsageError(`--${option} must be a whole number`);
      limits[field] = Number(raw);
    }
    const client = RestClient.fromEnv();
    const plugin = await resolvePlugin(client, name);
    const changed = Object.keys(limits).length > 0;
    const shown = changed ? await client.call<PluginView>('PUT', `/plugins/${plugin.id}/limits`, { json: limits }) : plugin;
    if (values.json) return printJson(output, shown);
    const { memory_mb, timeout_secs, instances } = shown.resource_limits;
    output.out(`${changed ? 'limits of ' : ''}${shown.name}: memory ${memory_mb} MB, timeout ${timeout_secs} s, instances ${instances}`);
    return 0;
  },

  async uninstall(args, output) {
    const { values, positionals } = parseCommandLine(args, { force: { type: 'boolean' }, json: { type: 'boolean' } }, 1);
    const name = requirePlugin(positionals, 'uninstall');
    const client = RestClient.fromEnv();
    const plugin = await resolvePlugin(client, name);
    await client.call('DELETE', `/plugins/${plugin.id}`, { query: { force: values.force ? 'true' : undefined } });
    // The service answers 204: what was removed, as it was.
    if (values.json) return printJson(output, { uninstalled: plugin });
    output.out(`uninstalled ${plugin.name} ${plugin.version} (id ${plugin.id})`);
    return 0;
  },
};

const LIMIT_OPTIONS: [keyof ResourceLimits, 'memory-mb' | 'timeout-secs' | 'instances'][] = [
  ['memory_mb', 'memory-mb'],
  ['timeout_secs', 'timeout-secs'],
  ['instances', 'instances'],
];

/** enable and disable: a POST without a body on the named plugin. */
function lifecycleCall(action: 'enable' | 'disable', done: string): Action {
  return async (args, output) => {
    const { values, positionals } = parseCommandLine(args, { json: { type: 'boolean' } }, 1);
    const name = requirePlugin(positionals, action);
    const client = RestClient.fromEnv();
    const plugin = await resolvePlugin(client, name);
    const answer = await client.call<PluginView>('POST', `/plugins/${plugin.id}/${action}`);
    if (values.json) return printJson(output, answer);
    output.out(`${done} ${describe(answer)}`);
    return 0;
  };
}

function requirePlugin(positionals: string[], action: string): string {
  if (positionals[0] === undefined) throw new UsageError(`plugins ${action} needs the plugin (its name or id)`);
  return positionals[0];
}

async function zipForm(file: string): Promise<FormData> {
  if (!(await stat(file).catch(() => null))?.isFile()) throw new UsageError(`${file} is not a file`);
  const form = new FormData();
  form.append('file', await openAsBlob(file), path.basename(file));
  return form;
}

function describe(plugin: PluginView): string {
  return `${plugin.name} ${plugin.version} (id ${plugin.id}): ${plugin.status}${plugin.error_message ? `, ${plugin.error_message}` : ''}`;
}

function printJson(output: Output, value: unknown): number {
  output.out(JSON.stringify(value, null, 2));
  return 0;
}
