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
 *
 * What one anonymous request can make the server spend is bounded: the artifact list comes
 * from a cache held per repository generation (./artifact-lists.ts), and at most
 * NATIVE_CALLS_PER_INSTANCE calls per plugin process are in line (running or waiting) for
 * one plugin version; past that, 503 `plugin_busy` with `Retry-After`, before the body is read.
 */
import type { RoutingTable } from '../../formats/routing.js';
import type { Store } from '../../store/store.js';
import type { BodyLimit, NativeAnswer, NativeProtocolService, NativeRequest } from '../contracts.js';
import type { FormatHandler, PluginHandler } from '../../formats/handler.js';
import { Busy, ServiceError, notFound } from '../errors.js';
import { repositoryNotFound } from '../repositories.js';
import { ArtifactLists } from './artifact-lists.js';
import { handlerLimit } from './artifacts.js';
import { repositoryContext } from './context.js';

/** Large enough for a publish request of most native protocols; bounded, as it is held in memory. */
export const NATIVE_BODY_LIMIT_BYTES = 16 * 1024 * 1024;

const SERVER_LIMIT: BodyLimit = {
  bytes: NATIVE_BODY_LIMIT_BYTES,
  reason: `the server takes native request bodies up to ${NATIVE_BODY_LIMIT_BYTES} bytes`,
};

/** Calls in line (running or waiting) per plugin process, for one plugin version, before 503. */
export const NATIVE_CALLS_PER_INSTANCE = 8;
/** What a refused client is told to wait, in seconds. */
export const NATIVE_RETRY_AFTER_SECONDS = 1;

export class NativeProtocol implements NativeProtocolService {
  private readonly lists: ArtifactLists;
  /** Calls in line per handler (a plugin version): counted here, across every repository of its format. */
  private readonly inLine = new WeakMap<FormatHandler, number>();

  constructor(private readonly deps: { store: Store; routing: RoutingTable }) {
    this.lists = new ArtifactLists(deps.store);
  }

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
    // Only plugins serve native protocols: their processes run one call each at a time.
    const capacity = NATIVE_CALLS_PER_INSTANCE * ('limits' in handler ? (handler as PluginHandler).limits.instances : 1);
    const waiting = this.inLine.get(handler) ?? 0;
    if (waiting >= capacity) {
      throw new Busy('plugin_busy', `the ${formatKey} plugin has ${capacity} native requests in line already; try again shortly`, NATIVE_RETRY_AFTER_SECONDS);
    }
    this.inLine.set(handler, waiting + 1);
    try {
      const { readBody, ...rest } = request;
      const body = await readBody(handlerLimit(handler, SERVER_LIMIT));
      const artifacts = await this.lists.encoded(repository.id);
      if (!artifacts) throw repositoryNotFound(repositoryKey);
      const response = await handler.handleRequest({ ...rest, body }, repositoryContext(externalBase, formatKey, repositoryKey), artifacts);
      return { ...response, repositoryPublic: repository.public };
    } finally {
      this.inLine.set(handler, this.inLine.get(handler)! - 1);
    }
  }
}
