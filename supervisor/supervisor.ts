/**
 * The supervisor put together: store → runtime and registry → services → HTTP server; then
 * the active plugins are started again. `close()` stops the server, drains every plugin
 * (calls in flight finish) and closes the store. Used by main.ts and by end-to-end tests.
 */
import type { Server } from 'node:http';
import pino from 'pino';
import type { Config } from './config.js';
import { coreFormatHandlers } from './formats/core/index.js';
import { FormatRegistry } from './formats/registry.js';
import { BlobStore } from './blobs/blob-store.js';
import { createApp } from './http/app.js';
import { Metrics } from './metrics.js';
import { PluginRuntime } from './runtime/runtime.js';
import { ArtifactCatalog } from './services/artifacts/artifacts.js';
import { IndexBuilder } from './services/artifacts/indexes.js';
import { NativeProtocol } from './services/artifacts/native.js';
import { FormatCatalog } from './services/formats.js';
import { HealthCheck } from './services/health.js';
import { PluginLifecycle } from './services/lifecycle.js';
import { PluginFiles } from './services/plugin-files.js';
import { RepositoryCatalog } from './services/repositories.js';
import { TokenService } from './services/tokens.js';
import { openStore } from './store/open.js';
import type { Store } from './store/store.js';

export interface Supervisor {
  server: Server;
  url: string;
  /** A generated admin token, on the first start only. */
  generatedAdminToken: string | null;
  close(): Promise<void>;
}

/** Starts everything; used by the command below and by end-to-end tests. */
export async function startSupervisor(config: Config, logger = pino({ level: config.logLevel })): Promise<Supervisor> {
  // Everything the supervisor writes under DATA_DIR is its own business: the database, the
  // admin token, plugin files, caches, blobs. Owner-only (files 0600, folders 0700) whoever writes them.
  process.umask(0o077);
  const store = await openStore(config);
  try {
    return await startServices(config, store, logger);
  } catch (error) {
    await store.close();
    throw error;
  }
}

async function startServices(config: Config, store: Store, logger: pino.Logger): Promise<Supervisor> {
  const files = new PluginFiles(config.dataDir);
  await files.prepare();
  const runtime = new PluginRuntime({ cacheDir: files.componentCache });
  logger.info({ sandbox: runtime.settings.sandbox.describe() }, 'plugin sandbox');

  const registry = new FormatRegistry();
  const coreHandlers = coreFormatHandlers();

  const blobs = new BlobStore(config.dataDir);
  await blobs.prepare();
  const repositories = new RepositoryCatalog(store, blobs);
  const indexes = new IndexBuilder({ store, blobs, registry, logger });
  const artifacts = new ArtifactCatalog({ store, blobs, registry, indexes, maxUploadBytes: config.artifacts.maxUploadBytes });
  const native = new NativeProtocol({ store, registry });
  // Each reads the other only later (on a scrape, on a runtime event).
  const metrics = new Metrics({ runningPlugins: () => lifecycle.runningPlugins() });
  const lifecycle = new PluginLifecycle({
    store,
    runtime,
    registry,
    files,
    config,
    logger,
    dependents: repositories,
    observeRuntimeEvent: (formatKey, event) => metrics.countRuntimeEvent(formatKey, event),
  });
  const formats = new FormatCatalog({
    store,
    registry,
    dependents: repositories,
    coreHandlers,
    pluginHandler: (pluginId) => lifecycle.handlerFor(pluginId),
  });
  await formats.startCoreHandlers();
  const health = new HealthCheck(store, lifecycle);
  const tokens = new TokenService(store, config);
  const generated = await tokens.bootstrap();

  const app = createApp({ plugins: lifecycle, formats, repositories, artifacts, native, health, tokens, config, logger, metrics });
  const server = app.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
  logger.info({ url, store: store.engine, dataDir: config.dataDir }, 'plugin-keeper listening');

  await lifecycle.startActive();
  health.markReady();

  return {
    server,
    url,
    generatedAdminToken: generated?.token ?? null,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await lifecycle.stopAll();
      await store.close();
    },
  };
}
