/**
 * The supervisor put together: the data directory locked → store → this node joins the
 * cluster → runtime and routing table → services → HTTP server; then the active plugins are
 * started again and `/ready` says so. `leave()` makes `/ready` answer 503 and tells the
 * other nodes this one is leaving; `close()` (which leaves first) stops the server, drains
 * every plugin (calls in flight finish), closes the store and releases the data directory.
 * Used by main.ts and by end-to-end tests.
 */
import type { Server } from 'node:http';
import pino from 'pino';
import { NodeMembership } from './cluster/nodes.js';
import type { Config } from './config.js';
import { lockDataDir, type DataDirLock } from './data-dir-lock.js';
import { coreFormatHandlers } from './formats/core/index.js';
import { LocalNotifier, PostgresNotifier } from './cluster/notify.js';
import { RoutingTable } from './formats/routing.js';
import { BlobLeases, SWEEP_INTERVAL_MS } from './blobs/leases.js';
import { openBlobStore } from './blobs/open.js';
import { createApp } from './http/app.js';
import { Metrics } from './metrics.js';
import { PluginLogReader } from './services/logs/reader.js';
import { PluginLogWriter } from './services/logs/writer.js';
import { PluginRuntime } from './runtime/runtime.js';
import { ArtifactCatalog } from './services/artifacts/artifacts.js';
import { IndexBuilder } from './services/artifacts/indexes.js';
import { NativeProtocol } from './services/artifacts/native.js';
import { FormatCatalog } from './services/formats.js';
import { HealthCheck } from './services/health.js';
import { PluginLifecycle } from './services/lifecycle.js';
import { PluginFiles } from './services/plugin-files.js';
import { Reconciler } from './services/reconcile.js';
import { RepositoryCatalog } from './services/repositories.js';
import { TokenService } from './services/tokens.js';
import { openStore } from './store/open.js';
import type { Store } from './store/store.js';
import { VERSION } from './version.js';

export interface Supervisor {
  server: Server;
  url: string;
  /** A generated admin token, on the first start only. */
  generatedAdminToken: string | null;
  /** `/ready` answers 503 from now on and the node is `leaving`; it still serves. */
  leave(): Promise<void>;
  close(): Promise<void>;
}

export interface SupervisorOptions {
  /**
   * The node cannot go on (another process took over its NODE_ID): main.ts exits with 1.
   * Without it, the supervisor closes itself.
   */
  onFatal?(error: Error): void;
}

/**
 * Starts everything; used by main.ts and by end-to-end tests. Throws `DataDirInUse` when
 * another supervisor holds the data directory.
 */
export async function startSupervisor(config: Config, logger = pino({ level: config.logLevel }), options: SupervisorOptions = {}): Promise<Supervisor> {
  // Everything the supervisor writes under DATA_DIR is its own business: the database, the
  // admin token, plugin files, caches, blobs. Owner-only (files 0600, folders 0700) whoever writes them.
  process.umask(0o077);
  const lock = await lockDataDir(config.dataDir, config.cluster.nodeId);
  let store: Store | undefined;
  try {
    store = await openStore(config);
    return await joinCluster(config, store, lock, logger, options);
  } catch (error) {
    await store?.close();
    lock.release();
    throw error;
  }
}

/** This node's row first: the services start as a member, and leave if they fail to. */
async function joinCluster(config: Config, store: Store, lock: DataDirLock, logger: pino.Logger, options: SupervisorOptions): Promise<Supervisor> {
  let supervisor: Supervisor | undefined;
  const membership = new NodeMembership({
    store,
    settings: config.cluster,
    version: VERSION,
    logger,
    onFatal: (error) => (options.onFatal ? options.onFatal(error) : void supervisor?.close()),
  });
  await membership.join();
  try {
    supervisor = await startNode(config, store, lock, membership, logger);
    return supervisor;
  } catch (error) {
    await membership.leave();
    throw error;
  }
}

async function startNode(config: Config, store: Store, lock: DataDirLock, membership: NodeMembership, logger: pino.Logger): Promise<Supervisor> {
  const files = new PluginFiles(config.dataDir);
  await files.prepare();
  const blobs = await openBlobStore(config);
  logger.info({ blobs: blobs.location }, 'blob store');
  const runtime = new PluginRuntime({ cacheDir: files.componentCache, artifactDir: blobs.stagingDir });
  logger.info({ sandbox: runtime.settings.sandbox.describe() }, 'plugin sandbox');

  const routing = new RoutingTable();
  const coreHandlers = coreFormatHandlers();

  const leases = new BlobLeases({ store, blobs, nodeId: config.cluster.nodeId });
  const stopSweeping = leases.sweepEvery(SWEEP_INTERVAL_MS, (error) => logger.warn({ err: error }, 'blob sweep failed'));
  const repositories = new RepositoryCatalog(store, leases);
  // Index runs have no request to take an address from; the fallback's port is known once listening.
  let indexBaseUrl = config.indexBaseUrl;
  const indexes = new IndexBuilder({ store, blobs, leases, routing, logger, baseUrl: () => indexBaseUrl });
  routing.onActivate((format) => void indexes.refreshStale(format));
  const artifacts = new ArtifactCatalog({ store, blobs, leases, routing, indexes, maxUploadBytes: config.artifacts.maxUploadBytes });
  const native = new NativeProtocol({ store, routing });
  // Each reads the other only later (on a scrape, on a runtime event).
  const metrics = new Metrics({ runningPlugins: () => node.runningPlugins() }, config.cluster.nodeId);
  const logs = new PluginLogWriter({
    store,
    nodeId: config.cluster.nodeId,
    settings: config.pluginLogs,
    logger,
    onDropped: (pluginId, version, count) => metrics.countDroppedLogLines({ plugin: node.pluginName(pluginId), version }, count),
  });
  const node = new Reconciler({
    store,
    runtime,
    routing,
    files,
    notifier: config.databaseUrl ? new PostgresNotifier(config.databaseUrl) : new LocalNotifier(),
    nodeId: config.cluster.nodeId,
    reconcileMs: config.cluster.reconcileMs,
    heartbeatMs: config.cluster.heartbeatMs,
    nodeTimeoutMs: config.cluster.nodeTimeoutMs,
    logger,
    logs,
    observeRuntimeEvent: (formatKey, event, plugin) => metrics.countRuntimeEvent(formatKey, event, plugin),
    observeCall: (plugin, method, outcome, seconds) => metrics.observeCall(plugin, method, outcome, seconds),
  });
  const lifecycle = new PluginLifecycle({ store, node, routing, files, config, logger, dependents: repositories });
  const formats = new FormatCatalog({ store, routing, dependents: repositories, coreHandlers, changes: node });
  await formats.startCoreHandlers();
  const health = new HealthCheck(store, lifecycle, membership);
  const tokens = new TokenService(store, config);
  const generated = await tokens.bootstrap();

  const app = createApp({ plugins: lifecycle, logs: new PluginLogReader(store), formats, repositories, artifacts, native, health, cluster: membership, tokens, config, logger, metrics });
  const server = app.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
  logger.info({ url, store: store.engine, dataDir: config.dataDir, node_id: config.cluster.nodeId }, 'plugin-keeper listening');
  if (config.indexBaseUrlIsFallback) {
    indexBaseUrl = indexBaseUrl.replace(/:\d+$/, `:${port}`);
    logger.warn(
      { index_base_url: indexBaseUrl },
      'PUBLIC_URL is not set: the absolute URLs that 1.1.0 plugins put in indexes carry this address, which only clients on this machine can use; set PUBLIC_URL to the address clients use (the same on every node)',
    );
  }

  // The node's first reconcile: until it is over, /ready keeps load balancers away.
  await node.start();
  // Artifacts parsed by another handler (or before migration 008), indexes made on another base URL.
  void indexes.refreshStale();
  health.markReady();

  const leave = async () => {
    health.markStopping();
    await membership.leave();
  };
  let closing: Promise<void> | undefined;
  return {
    server,
    url,
    generatedAdminToken: generated?.token ?? null,
    leave,
    close() {
      closing ??= (async () => {
        await leave();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await node.stop();
        await logs.stop();
        stopSweeping();
        await blobs.close();
        await store.close();
        lock.release();
      })();
      return closing;
    },
  };
}
