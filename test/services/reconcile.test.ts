// The reconciler on one node, on both engines, with real plugin processes: the desired rows
// are written straight into the store (as another node's mutation would leave them), then a
// pass brings this node's processes, routing table and own state rows in line.
import { bytesSource } from '../../supervisor/formats/artifact-source.js';
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { access, mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { loadConfig, type Config } from '../../supervisor/config.js';
import { LocalNotifier } from '../../supervisor/cluster/notify.js';
import { RoutingTable } from '../../supervisor/formats/routing.js';
import { PluginRuntime } from '../../supervisor/runtime/runtime.js';
import { PluginFiles } from '../../supervisor/services/plugin-files.js';
import { Reconciler } from '../../supervisor/services/reconcile.js';
import { openStore } from '../../supervisor/store/open.js';
import type { PluginPatch, PluginRow, Store } from '../../supervisor/store/store.js';
import { sha256Hex } from '../../supervisor/sha256.js';
import { isAlive } from '../support/assertions.js';
import { postgresFixture, registerTestNode, sqliteFixture, type EngineFixture } from '../support/engines.js';
import { fixtureWasm } from '../support/fixtures.js';

const DEMO = new TextEncoder().encode('DEMO artifact');
const CAPABILITIES = { parse_metadata: true, validate_artifact: true, generate_index: true, handle_request: false };

for (const makeEngine of [sqliteFixture, postgresFixture]) {
  describe(`reconciler (${makeEngine().engine})`, function () {
    this.timeout(60_000);
    let engine: EngineFixture;
    let config: Config;
    let store: Store;
    let files: PluginFiles;
    let routing: RoutingTable;
    let node: Reconciler;
    let wasmSha256: string;

    before(async () => {
      engine = makeEngine();
      const storeConfig = await engine.create();
      config = loadConfig({ DATA_DIR: storeConfig.dataDir, NODE_ID: 'unit-node' });
      config.databaseUrl = storeConfig.databaseUrl;
      store = await openStore(config);
      files = new PluginFiles(config.dataDir);
      await files.prepare();
      const wasm = await fixtureWasm('good');
      wasmSha256 = sha256Hex(wasm);
      await store.putBinary(wasmSha256, wasm);
    });
    beforeEach(async () => {
      routing = new RoutingTable();
      node = newNode(store);
      await registerTestNode(store, config.cluster.nodeId);
      await node.start();
    });
    afterEach(async () => {
      await node.stop();
      for (const row of await store.allPlugins()) await store.deletePlugin(row.id);
      await rm(path.join(config.dataDir, 'plugins'), { recursive: true, force: true });
    });
    after(async () => {
      await store.close();
      await engine.dispose();
    });

    function newNode(over: Store): Reconciler {
      return new Reconciler({
        store: over,
        runtime: new PluginRuntime({ cacheDir: files.componentCache }),
        routing,
        files,
        notifier: new LocalNotifier(),
        nodeId: config.cluster.nodeId,
        reconcileMs: 600_000,
        heartbeatMs: 600_000,
        nodeTimeoutMs: 600_000,
        logger: pino({ level: 'silent' }),
      });
    }

    /** The desired state of a `demo` plugin, as a mutation on another node commits it. */
    async function desire(status: 'active' | 'disabled' = 'active'): Promise<PluginRow> {
      const id = randomUUID();
      const row = await store.insertPlugin({
        id,
        name: 'demo-format',
        version: '1.0.0',
        display_name: null,
        description: null,
        author: null,
        homepage: null,
        license: null,
        status,
        plugin_type: 'format_handler',
        source_type: 'wasm_local',
        source_url: '/elsewhere/on/another/node',
        source_ref: null,
        source_path: null,
        resolved_commit: null,
        wasm_sha256: wasmSha256,
        format_key: 'demo',
        capabilities: CAPABILITIES,
        resource_limits: { memory_mb: 64, timeout_secs: 5, instances: 1 },
        limits_override: null,
        manifest: {},
        error_message: null,
        enabled_at: null,
      });
      await store.insertFormatHandler({
        id: randomUUID(),
        format_key: 'demo',
        plugin_id: id,
        handler_type: 'wasm',
        display_name: 'Demo',
        description: null,
        extensions: ['.demo'],
        is_enabled: true,
        priority: 0,
        capabilities: CAPABILITIES,
      });
      return row;
    }

    /** A change as a mutation makes it: the patch, and the next generation. */
    async function change(row: PluginRow, patch: PluginPatch): Promise<PluginRow> {
      const current = (await store.getPlugin(row.id))!;
      return (await store.updatePlugin(row.id, { ...patch, generation: current.generation + 1 }))!;
    }

    const ownState = async (id: string) => (await store.nodeStatesOf(config.cluster.nodeId)).find((state) => state.plugin_id === id);

    it('starts an active plugin from the stored component, and a later pass leaves it alone', async () => {
      const row = await desire();
      await node.reconcileNow();
      const handler = routing.require('demo');
      expect((await handler.parseMetadata('a.demo', bytesSource(DEMO))).sizeBytes).to.equal(DEMO.byteLength);
      const pids = routing.plugin(row.id)!.pids();
      expect(pids).to.have.length(1);
      // Its folder was rebuilt from the store: this node never saw the package.
      await access(path.join(files.versionDir(row.id, '1.0.0', wasmSha256), 'plugin.wasm'));
      expect(await ownState(row.id)).to.deep.include({ state: 'running', version: '1.0.0', generation: 1, pids, error_message: null });

      await node.reconcileNow();
      expect(routing.require('demo')).to.equal(handler);
      expect(routing.plugin(row.id)!.pids()).to.deep.equal(pids);
      // The format's flag is the row's: disabled, the plugin keeps running but is not served.
      await store.updateFormatHandler('demo', { is_enabled: false });
      await node.reconcileNow();
      expect(routing.get('demo')).to.equal(undefined);
      expect(routing.plugin(row.id)).to.equal(handler);
    });

    it('new limits start new processes then drain the old; disabled stops them; uninstalled removes the files', async () => {
      const row = await desire();
      await node.reconcileNow();
      const [oldPid] = routing.plugin(row.id)!.pids();
      await change(row, { resource_limits: { memory_mb: 64, timeout_secs: 5, instances: 2 } });
      await node.reconcileNow();
      expect(routing.plugin(row.id)!.pids()).to.have.length(2);
      expect(isAlive(oldPid!)).to.equal(false);
      expect((await ownState(row.id))!.generation).to.equal(2);

      const pids = routing.plugin(row.id)!.pids();
      await change(row, { status: 'disabled' });
      await node.reconcileNow();
      expect(routing.plugin(row.id)).to.equal(undefined);
      expect(pids.filter(isAlive)).to.deep.equal([]);
      expect(await ownState(row.id)).to.deep.include({ state: 'stopped', pids: [], generation: 3 });

      await store.deletePlugin(row.id);
      // A folder of a plugin this node never ran (uninstalled while it was away) goes too.
      await mkdir(path.join(config.dataDir, 'plugins', randomUUID()), { recursive: true });
      await node.reconcileNow();
      expect(await files.pluginIds()).to.deep.equal([]);
    });

    it('a version that cannot start is this node\'s error: the old one keeps serving, and it is retried at a newer generation only', async () => {
      const row = await desire();
      await node.reconcileNow();
      const serving = routing.require('demo');
      await change(row, { resource_limits: { memory_mb: 0, timeout_secs: 5, instances: 1 } });
      await node.reconcileNow();
      const failed = (await ownState(row.id))!;
      expect(failed).to.deep.include({ state: 'error', generation: 2, pids: routing.plugin(row.id)!.pids() });
      expect(failed.error_message).to.contain('failed to start');
      expect(routing.require('demo')).to.equal(serving);
      expect((await serving.parseMetadata('a.demo', bytesSource(DEMO))).sizeBytes).to.equal(DEMO.byteLength);
      // The desired state is untouched; the failure is an event of this node.
      expect((await store.getPlugin(row.id))!.status).to.equal('active');
      const [event] = await store.listEvents(row.id, { severity: 'error', limit: 1 });
      expect(event).to.deep.include({ event_type: 'error', node_id: config.cluster.nodeId });

      await node.reconcileNow();
      expect((await ownState(row.id))!.updated_at).to.equal(failed.updated_at);

      await change(row, { resource_limits: { memory_mb: 64, timeout_secs: 7, instances: 1 } });
      await node.reconcileNow();
      expect(await ownState(row.id)).to.deep.include({ state: 'running', generation: 3, error_message: null });
      expect(routing.require('demo')).to.not.equal(serving);
      expect(routing.plugin(row.id)!.limits.timeoutMs).to.equal(7000);
    });

    it('runs passes one at a time, coalescing requests made while one waits', async () => {
      await desire();
      await node.reconcileNow();
      let running = 0;
      let most = 0;
      let passes = 0;
      // Every pass reads the plugins first and writes the process rows last.
      const counting = new Proxy(store, {
        get(target, property, receiver) {
          if (property === 'allPlugins') {
            return async () => {
              passes++;
              most = Math.max(most, ++running);
              await new Promise((resolve) => setTimeout(resolve, 20));
              return target.allPlugins();
            };
          }
          if (property === 'transaction') {
            return async (work: Parameters<Store['transaction']>[0]) => {
              try {
                return await target.transaction(work);
              } finally {
                running--;
              }
            };
          }
          const value = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      await node.stop();
      routing = new RoutingTable();
      node = newNode(counting);
      await registerTestNode(store, config.cluster.nodeId);
      await node.start();
      passes = 0;
      await Promise.all(Array.from({ length: 10 }, () => node.reconcileNow()));
      expect(most).to.equal(1);
      expect(passes).to.be.within(1, 2);
      await Promise.all([node.reconcileNow(), node.commit(async () => undefined), node.reconcileNow()]);
      expect(most).to.equal(1);
    });

    it('writes the process rows one write at a time, from passes and from commits alike, and the last write has them all', async () => {
      const row = await desire();
      await node.reconcileNow();
      let writing = 0;
      let most = 0;
      let writes = 0;
      // Only the process rows are written in a transaction here; each write is made slow.
      const slow = new Proxy(store, {
        get(target, property, receiver) {
          if (property === 'transaction') {
            return async (work: Parameters<Store['transaction']>[0]) => {
              writes++;
              most = Math.max(most, ++writing);
              try {
                await new Promise((resolve) => setTimeout(resolve, 30));
                return await target.transaction(work);
              } finally {
                writing--;
              }
            };
          }
          const value = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      await node.stop();
      routing = new RoutingTable();
      node = newNode(slow);
      await registerTestNode(store, config.cluster.nodeId);
      await node.start();
      writes = 0;
      // Each commit asks for a write at once, each pass at its end: they would overlap.
      await Promise.all(Array.from({ length: 5 }, () => [node.commit(async () => undefined), node.reconcileNow()]).flat());
      expect(most).to.equal(1);
      expect(writes).to.be.within(2, 10);
      const rows = await store.listProcesses(row.id, '2000-01-01T00:00:00.000Z');
      expect(rows.map((process) => process.pid)).to.deep.equal(routing.plugin(row.id)!.pids());
    });

    it('stopping drains every plugin and removes this node\'s rows', async () => {
      const row = await desire();
      await node.reconcileNow();
      const pids = routing.plugin(row.id)!.pids();
      await node.stop();
      expect(pids.filter(isAlive)).to.deep.equal([]);
      expect(routing.plugins()).to.deep.equal([]);
      expect(await store.nodeStatesOf(config.cluster.nodeId)).to.deep.equal([]);
      expect(await readdir(path.join(config.dataDir, 'plugins'))).to.have.length(1);
      node = newNode(store);
      await registerTestNode(store, config.cluster.nodeId);
      await node.start();
    });
  });
}
