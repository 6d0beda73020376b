/**
 * What follows when the handler serving a format changes on purpose (a plugin installed
 * with `replace_core` takes the key over, or gives it back to the core handler when it is
 * disabled or uninstalled): every repository of the format gets its index rebuilt by the
 * handler now serving it. Run once, by the node that made the change (it serves the new
 * handler by then); the index is stored for every node.
 *
 * Re-parsing the repositories' artifacts with the new handler (the 1.1 format interface's
 * work) belongs here too, before the indexes.
 */
import type { DependentRepositories } from '../lifecycle.js';
import type { IndexBuilder } from './indexes.js';

export function formatHandlerChanged(deps: { dependents: DependentRepositories; indexes: Pick<IndexBuilder, 'refresh'> }) {
  return async function handlerChanged(formatKey: string): Promise<void> {
    const repositories = await deps.dependents.forFormat(formatKey);
    await Promise.all(repositories.map((repository) => deps.indexes.refresh(repository.id)));
  };
}
