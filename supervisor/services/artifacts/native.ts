/**
 * Native client protocols (`/ext/:format_key/:repo_key/*path`): a plugin with
 * `handle_request` answers a package manager's own requests for one repository, given the
 * repository's context (its key and external URLs) and the metadata of its artifacts.
 *
 * The request body is read only once the repository and its handler are known, up to
 * NATIVE_BODY_LIMIT_BYTES or what the plugin's memory can take, whichever is lower (413
 * naming the limit). The plugin only answers: it cannot write to the repository; what it
 * answers was checked where it came in (../../formats/plugin-results.ts), and which of its
 * headers reach the client is decided by the HTTP layer.
 */
import type { RoutingTable } from '../../formats/routing.js';
import type { Store } from '../../store/store.js';
import type { BodyLimit, NativeAnswer, NativeProtocolService, NativeRequest } from '../contracts.js';
import { ServiceError, notFound } from '../errors.js';
import { repositoryNotFound } from '../repositories.js';
import { handlerLimit } from './artifacts.js';
import { repositoryContext } from './context.js';
import { toMetadata } from './indexes.js';

/** Large enough for a publish request of most native protocols; bounded, as it is held in memory. */
export const NATIVE_BODY_LIMIT_BYTES = 16 * 1024 * 1024;

const SERVER_LIMIT: BodyLimit = {
  bytes: NATIVE_BODY_LIMIT_BYTES,
  reason: `the server takes native request bodies up to ${NATIVE_BODY_LIMIT_BYTES} bytes`,
};

export class NativeProtocol implements NativeProtocolService {
  constructor(private readonly deps: { store: Store; routing: RoutingTable }) {}

  async handle(formatKey: string, repositoryKey: string, request: NativeRequest, externalBase: string): Promise<NativeAnswer> {
    const repository = await this.deps.store.getRepository(repositoryKey);
    if (!repository) throw repositoryNotFound(repositoryKey);
    if (repository.format !== formatKey) {
      throw notFound(`repository ${repositoryKey} holds ${repository.format} artifacts: its native protocol is at /ext/${repository.format}/${repositoryKey}/`);
    }
    const handler = this.deps.routing.require(formatKey);
    if (!handler.capabilities.handle_request) {
      throw new ServiceError(404, 'no_native_protocol', `the ${formatKey} format handler does not serve a native protocol (its plugin has no handle_request capability)`);
    }
    const { readBody, ...rest } = request;
    const body = await readBody(handlerLimit(handler, SERVER_LIMIT));
    const artifacts = (await this.deps.store.listArtifacts(repository.id, {})).map(toMetadata);
    const response = await handler.handleRequest({ ...rest, body }, repositoryContext(externalBase, formatKey, repositoryKey), artifacts);
    return { ...response, repositoryPublic: repository.public };
  }
}
