/**
 * The HTTP server's composition, outermost first: request id → access log → request metrics →
 * errors → host check → dashboard files → auth → routes. Auth sits before the router so that it answers for every path, routed or not; the
 * error middleware sits outside both so that their failures, and unmatched routes, get the
 * contract's error body; the access log sits outside everything so it logs the final status.
 */
import path from 'node:path';
import Router from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import type {
  ArtifactService,
  ClusterService,
  FormatService,
  HealthService,
  NativeProtocolService,
  PluginLogService,
  PluginService,
  RepositoryService,
} from '../services/contracts.js';
import type { TokenService } from '../services/tokens.js';
import { accessLog } from './access-log.js';
import { authenticate } from './auth.js';
import { errorHandler } from './errors.js';
import { checkHost } from './host.js';
import { openApiDocument } from './openapi.js';
import { CLUSTER_MOUNTS, FORMAT_MOUNTS, ME_PATH, OPENAPI_PATH, PLUGIN_MOUNTS, REPOSITORY_MOUNTS } from './paths.js';
import { requestId } from './request-id.js';
import { clusterRoutes } from './routes/cluster.js';
import { formatRoutes } from './routes/formats.js';
import { healthRoutes } from './routes/health.js';
import { metricsRoutes, requestMetrics } from './routes/metrics.js';
import { meRoutes } from './routes/me.js';
import { pluginLogRoutes } from './routes/plugin-logs.js';
import { pluginRoutes } from './routes/plugins.js';
import { artifactRoutes } from './routes/artifacts.js';
import { extRoutes } from './routes/ext.js';
import { repositoryRoutes } from './routes/repositories.js';
import { uiRoutes } from './routes/ui.js';
import type { AppState } from './state.js';
import { publicRepositoryAccess } from './visibility.js';

export interface AppDeps {
  plugins: PluginService;
  logs: PluginLogService;
  formats: FormatService;
  repositories: RepositoryService;
  artifacts: ArtifactService;
  native: NativeProtocolService;
  health: HealthService;
  cluster: ClusterService;
  tokens: TokenService;
  config: Config;
  logger: Logger;
  metrics: Metrics;
}

/** Folder (below DATA_DIR, so on the same disk as the plugins) for uploads in progress. */
export const uploadRoot = (config: Pick<Config, 'dataDir'>): string => path.join(config.dataDir, 'tmp', 'uploads');

export function createApp(deps: AppDeps): Koa<AppState> {
  const app = new Koa<AppState>({ proxy: deps.config.trustProxy });
  const tempRoot = uploadRoot(deps.config);

  const router = new Router<AppState>();
  mount(router, PLUGIN_MOUNTS, pluginRoutes(deps.plugins, { uploads: { tempRoot, maxFileBytes: deps.config.plugins.maxZipBytes } }));
  mount(router, PLUGIN_MOUNTS, pluginLogRoutes(deps.logs));
  mount(router, [ME_PATH], meRoutes());
  mount(router, FORMAT_MOUNTS, formatRoutes(deps.formats, { tempRoot }));
  mount(router, REPOSITORY_MOUNTS, repositoryRoutes(deps.repositories));
  mount(router, REPOSITORY_MOUNTS, artifactRoutes(deps.artifacts));
  mount(router, CLUSTER_MOUNTS, clusterRoutes(deps.cluster));
  router.use(extRoutes(deps.native).routes());
  router.use(healthRoutes(deps.health).routes());
  router.use(metricsRoutes(deps.metrics, { token: deps.config.metricsToken }).routes());
  const document = openApiDocument();
  router.get(OPENAPI_PATH, (ctx) => {
    ctx.body = document;
  });

  app.use(requestId());
  app.use(accessLog(deps.logger));
  app.use(requestMetrics(deps.metrics));
  app.use(errorHandler(deps.logger));
  app.use(checkHost(deps.config));
  // The dashboard's files need no credentials: the page asks for a token, and every API call it makes sends one.
  app.use(uiRoutes());
  app.use(authenticate({ verifier: deps.tokens, allowAnonymous: publicRepositoryAccess((key) => deps.artifacts.isPublic(key)) }));
  app.use(router.routes());
  // Sets 405 with `Allow` (and answers OPTIONS); the error middleware adds the body.
  app.use(router.allowedMethods());

  // Only failures after the answer has started (a broken stream) get here; log them like the rest.
  app.on('error', (error: unknown, ctx?: Koa.ParameterizedContext<AppState>) => {
    // A client going away mid-download is its own business, not a failure of the server.
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    const clientGone = code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'EPIPE';
    deps.logger[clientGone ? 'debug' : 'error']({ req_id: ctx?.state.requestId, err: error }, 'response failed');
  });
  return app;
}

/** One router, every prefix: the contract's aliases are the same handlers, not copies. */
function mount(parent: Router<AppState>, prefixes: readonly string[], child: Router<AppState>): void {
  for (const prefix of prefixes) parent.use(prefix, child.routes());
}
