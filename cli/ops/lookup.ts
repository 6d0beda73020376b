/**
 * Plugins as the operators' commands name them: every plugin (the list read page by page),
 * and one plugin by its name or its id.
 */
import type { PluginView } from '../../supervisor/services/contracts.js';
import { CommandFailed } from '../command.js';
import type { RestClient } from './client.js';

/** The largest page the service gives. */
const PER_PAGE = 100;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function listPlugins(client: RestClient): Promise<PluginView[]> {
  const plugins: PluginView[] = [];
  for (let page = 1; ; page++) {
    const answer = await client.call<{ items: PluginView[]; total: number }>('GET', '/plugins', { query: { page, per_page: PER_PAGE } });
    plugins.push(...answer.items);
    if (answer.items.length < PER_PAGE || plugins.length >= answer.total) return plugins;
  }
}

/** An id is asked for as it is (the service's 404 names it); a name is looked up in the list. */
export async function resolvePlugin(client: RestClient, nameOrId: string): Promise<PluginView> {
  if (UUID.test(nameOrId)) return client.call<PluginView>('GET', `/plugins/${nameOrId.toLowerCase()}`);
  const found = (await listPlugins(client)).find((plugin) => plugin.name === nameOrId);
  if (!found) throw new CommandFailed(`no plugin is named "${nameOrId}" (plugin-keeper plugins ls lists them)`);
  return found;
}
