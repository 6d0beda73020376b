/**
 * Native client protocols (`/ext/:format_key/:repo_key/*path`): a plugin with
 * `handle_request` answers a package manager's own requests for one repository, given the
 * repository's context (its key and external URLs) and the metadata of its artifacts.
 *
 * The plugin only answers: it cannot write to the repository, and what it answers is checked
 * here (a status outside 100..599 is a 502 `plugin_invalid_response`); which of its headers
 * reach the client is decided by the HTTP layer.
 */
import type { HttpRequest, HttpResponse, RepoContext } from '../../formats/handler.js';
import type { RoutingTable } from '../../formats/routing.js';
import type { Store } from '../../store/store.js';
import type { NativeProtocolService } from '../contracts.js';
import { ServiceError, notFound } from '../errors.js';
import { repositoryNotFound } from '../repositories.js';
import { toMetadata } from './indexes.js';

export class NativeProtocol implements NativeProtocolService {
  constructor(private readonly deps: { store: Store; routing: RoutingTable }) {}

  async handle(formatKey: string, repositoryKey: string, request: HttpRequest, origin: string): Promise<HttpResponse> {
    const repository = await this.deps.store.getRepository(repositoryKey);
    if (!repository) throw repositoryNotFound(repositoryKey);
    if (repository.format !== formatKey) {
      throw notFound(`repository ${repositoryKey} holds ${repository.format} artifacts: its native protocol is at /ext/${repository.format}/${repositoryKey}/`);
    }
    const handler = this.deps.routing.require(formatKey);
    if (!handler.capabilities.handle_request) {
      throw new ServiceError(404, 'no_native_protocol', `the ${formatKey} format handler does not serve a native protocol (its plugin has no handle_request capability)`);
    }
    const artifacts = (await this.deps.store.listArtifacts(repository.id, {})).map(toMetadata);
    const response = await handler.handleRequest(request, repositoryContext(origin, formatKey, repositoryKey), artifacts);
    if (!Number.isInteger(response.status) || response.status < 100 || response.status > 599) {
      throw new ServiceError(502, 'plugin_invalid_response', `the ${formatKey} plugin answered with the HTTP status ${response.status}, which is not one (100..599)`);
    }
    return response;
  }
}

/** Where the repository's native protocol and its downloads are, as the client sees the server. */
export function repositoryContext(origin: string, formatKey: string, repositoryKey: string): RepoContext {
  return {
    repoKey: repositoryKey,
    baseUrl: `${origin}/ext/${formatKey}/${repositoryKey}`,
    downloadBaseUrl: `${origin}/api/v1/repositories/${repositoryKey}/artifacts`,
  };
}
