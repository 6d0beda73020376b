import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { bytesSource } from '../../supervisor/formats/artifact-source.js';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig, type Config } from '../../supervisor/config.js';
import { LocalNotifier } from '../../supervisor/cluster/notify.js';
import { RoutingTable } from '../../supervisor/formats/routing.js';
import { PypiFormatHandler } from '../../supervisor/formats/core/pypi.js';
import { FormatUnavailable, PluginCrashed } from '../../supervisor/runtime/errors.js';
import { PluginRuntime } from '../../supervisor/runtime/runtime.js';
import { ServiceError } from '../../supervisor/services/errors.js';
import { PluginLifecycle, type DependentRepositories } from '../../supervisor/services/lifecycle.js';
import { PluginFiles } from '../../supervisor/services/plugin-files.js';
import { Reconciler } from '../../supervisor/services/reconcile.js';
import { openStore } from '../../supervisor/store/open.js';
import type { Store } from '../../supervisor/store/store.js';
import { postgresFixture, registerTestNode, sqliteFixture, type EngineFixture } from '../support/engines.js';
import { expectRejection, isAlive } from '../support/assertions.js';
import { fixtureWasm, type FixtureName } from '../support/fixtures.js';
import { makeZip } from '../support/zips.js';

const DEMO = new TextEncoder().encode('DEMO artifact');

function manifest(name: string, version: string, key: string, extra = ''): string {
  return `[plugin]\nname = "${name}"\nversion = "${version}"\n\n[format]\nkey = "${key}"\ndisplay_name = "Demo"\nextensions = [".demo"]\n${extra}`;
}



/** Repositories using a format: the next issue's service fills this; here the test sets it. */
class TestDependents implements DependentRepositories {
  readonly byFormat = new Map<string, Array<{ id: string; key: string }>>();
  async forFormat(formatKey: string) {
    return this.byFormat.get(formatKey) ?? [];
  }
}

for (const makeEngine of [sqliteFixture, postgresFixture]) {
  describe(`plugin lifecycle (${makeEngine().engine})`, function () {
    this.timeout(120_000);
    let engine: EngineFixture;
    let root: string;
    let config: Config;
    let store: Store;
    let routing: RoutingTable;
    let dependents: TestDependents;
    let lifecycle: PluginLifecycle;
    /** The format keys the routing table said another handler serves now (what re-parses them), in order. */
    let handlersChanged: string[];
    const nodes: Reconciler[] = [];

    /** A lifecycle over a node that started (its active plugins running), as a supervisor's. */
    async function newLifecycle(): Promise<PluginLifecycle> {
      const files = new PluginFiles(config.dataDir);
      const logger = pino({ level: 'silent' });
      const node = new Reconciler({
        store,
        runtime: new PluginRuntime({ cacheDir: files.componentCache, ackTimeoutMs: 3000 }),
        routing,
        files,
        notifier: new LocalNotifier(),
        nodeId: config.cluster.nodeId,
        reconcileMs: 60_000,
        heartbeatMs: 60_000,
        nodeTimeoutMs: 600_000,
        logger,
      });
      nodes.push(node);
      await registerTestNode(store, config.cluster.nodeId);
      await node.start();
      return new PluginLifecycle({ store, node, routing, files, config, logger, dependents });
    }

    /** A plugin folder under the local root: plugin.toml and a fixture's component. */
    async function pluginFolder(folder: string, toml: string, wasm: FixtureName | Uint8Array): Promise<string> {
      const dir = path.join(root, folder);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'plugin.toml'), toml);
      await writeFile(path.join(dir, 'plugin.wasm'), typeof wasm === 'string' ? await fixtureWasm(wasm) : wasm);
      return dir;
    }

    async function installDemo(version = '1.0.0') {
      return lifecycle.install({ kind: 'local', path: await pluginFolder('demo', manifest('demo-format', version, 'demo'), 'good') });
    }

    /** Everything under DATA_DIR/plugins and tmp, to prove a failure left nothing behind. */
    async function leftovers(): Promise<string[]> {
      const list = async (dir: string) => readdir(path.join(config.dataDir, dir)).catch(() => [] as string[]);
      return [...(await list('plugins')), ...(await list('tmp'))];
    }

    before(async () => {
      engine = makeEngine();
      const storeConfig = await engine.create();
      root = await mkdtemp(path.join(os.tmpdir(), 'pk-plugins-'));
      config = loadConfig({ DATA_DIR: storeConfig.dataDir, PLUGINS_LOCAL_ROOTS: root });
      config.databaseUrl = storeConfig.databaseUrl;
      store = await openStore(config);
    });
    beforeEach(async () => {
      routing = new RoutingTable();
      routing.addCore(new PypiFormatHandler(), true);
      handlersChanged = [];
      routing.onActivate((formatKey) => handlersChanged.push(formatKey));
      dependents = new TestDependents();
      lifecycle = await newLifecycle();
    });
    afterEach(async () => {
      await Promise.all(nodes.splice(0).map((node) => node.stop()));
      for (const row of await store.allPlugins()) {
        await store.transaction(async (tx) => {
          await tx.deletePlugin(row.id);
          await tx.deleteBinaryIfUnused(row.wasm_sha256);
        });
      }
      await rm(path.join(config.dataDir, 'plugins'), { recursive: true, force: true });
    });
    after(async () => {
      await store.close();
      await engine.dispose();
      await rm(root, { recursive: true, force: true });
    });

    it('installs from a folder: active, processes running, format served, events recorded', async () => {
      const installed = await installDemo();
      expect(installed).to.include({ name: 'demo-format', version: '1.0.0', status: 'active', format_key: 'demo', source_type: 'wasm_local' });
      expect(installed.plugin_id).to.equal(installed.id);
      expect(installed.resource_limits).to.deep.equal({ memory_mb: 64, timeout_secs: 5, instances: 1 });
      expect(installed.runtime.state).to.equal('running');
      expect(installed.runtime.pids).to.have.length(1);
      expect(installed.message).to.contain('installed');

      const metadata = await routing.require('demo').parseMetadata('a.demo', bytesSource(DEMO));
      expect(metadata.sizeBytes).to.equal(DEMO.byteLength);
      const format = await store.getFormatHandler('demo');
      expect(format).to.include({ plugin_id: installed.id, handler_type: 'wasm', is_enabled: true });
      const { items } = await lifecycle.events(installed.id, { limit: 50 });
      expect(items.map((e) => e.event_type)).to.deep.equal(['format_handler_enabled', 'enabled', 'installed']);
      const { items: processes } = await lifecycle.processes(installed.id);
      expect(processes).to.have.length(1);
      expect(processes[0]).to.include({ pid: installed.runtime.pids[0], state: 'ready', version: '1.0.0' });
      expect(await store.getBinary(installed.wasm_sha256)).to.deep.equal(await fixtureWasm('good'));
    });

    it('installs from a ZIP with the package under one top folder', async () => {
      const zipPath = path.join(root, 'upload.zip');
      await writeFile(
        zipPath,
        makeZip([
          { name: 'demo-1.0.0/plugin.toml', data: manifest('zipped-demo', '1.0.0', 'zipdemo') },
          { name: 'demo-1.0.0/plugin.wasm', data: (await fixtureWasm('good')).slice() },
        ]),
      );
      // The component answers format-key() "demo": the manifest's "zipdemo" must be refused...
      const refused = await expectRejection(lifecycle.install({ kind: 'zip', file: zipPath }), ServiceError);
      expect(refused.status).to.equal(422);
      expect(refused.message).to.contain('"demo"').and.contain('"zipdemo"');
      expect(await leftovers()).to.deep.equal([]);
      expect(await store.allPlugins()).to.deep.equal([]);
      // ...and with the right key it installs.
      await writeFile(
        zipPath,
        makeZip([
          { name: 'demo-1.0.0/plugin.toml', data: manifest('zipped-demo', '1.0.0', 'demo') },
          { name: 'demo-1.0.0/plugin.wasm', data: (await fixtureWasm('good')).slice() },
        ]),
      );
      const installed = await lifecycle.install({ kind: 'zip', file: zipPath });
      expect(installed).to.include({ source_type: 'wasm_zip', status: 'active' });
    });

    it('refuses a second plugin of the same name or format key, leaving nothing behind', async () => {
      const first = await installDemo();
      const sameName = await expectRejection(installDemo('2.0.0'), ServiceError);
      expect(sameName.status).to.equal(409);
      expect(sameName.code).to.equal('plugin_already_exists');
      expect(sameName.extra.existing_plugin_id).to.equal(first.id);

      const other = await pluginFolder('other', manifest('other-format', '1.0.0', 'demo'), 'good');
      const sameKey = await expectRejection(lifecycle.install({ kind: 'local', path: other }), ServiceError);
      expect(sameKey.status).to.equal(409);
      expect(sameKey.code).to.equal('format_key_conflict');

      // A core key without replace_core: 409 naming the core handler and the flag.
      const core = await pluginFolder('core', manifest('core-clash', '1.0.0', 'pypi'), 'good-pypi');
      const coreKey = await expectRejection(lifecycle.install({ kind: 'local', path: core }), ServiceError);
      expect(coreKey.status).to.equal(409);
      expect(coreKey.code).to.equal('format_key_conflict');
      expect(coreKey.message).to.contain('core pypi handler').and.contain('replace_core');
      expect(coreKey.extra).to.include({ core_handler: 'pypi', flag: 'replace_core' });
      expect((await store.allPlugins()).map((p) => p.name)).to.deep.equal(['demo-format']);
      expect(await leftovers()).to.deep.equal([first.id]);
    });

    it('replaces a core handler with replace_core: the plugin serves the key; disabled or uninstalled, the core handler again', async () => {
      const core = routing.require('pypi');
      dependents.byFormat.set('pypi', [{ id: randomUUID(), key: 'wheels' }]);
      const dir = await pluginFolder('replacing', manifest('pypi-replacement', '1.0.0', 'pypi'), 'good-pypi');
      const installed = await lifecycle.install({ kind: 'local', path: dir, replaceCore: true });
      expect(installed).to.include({ status: 'active', format_key: 'pypi' });
      expect(installed.message).to.contain('in place of the core handler');
      expect(routing.require('pypi')).to.not.equal(core);
      expect(routing.require('pypi').handlerType).to.equal('wasm');
      expect((await routing.require('pypi').parseMetadata('a.demo', bytesSource(DEMO))).contentType).to.equal('application/x-demo');
      const row = (await store.getFormatHandler('pypi'))!;
      expect(row).to.include({ handler_type: 'core', plugin_id: null, replaced_by: installed.id, is_enabled: true });
      expect(handlersChanged).to.deep.equal(['pypi']);

      // A second plugin for the key, even with the flag: 409, nothing written.
      const second = await pluginFolder('second', manifest('pypi-second', '1.0.0', 'pypi'), 'good-pypi');
      const refused = await expectRejection(lifecycle.install({ kind: 'local', path: second, replaceCore: true }), ServiceError);
      expect(refused.status).to.equal(409);
      expect(refused.code).to.equal('format_key_conflict');
      expect(refused.message).to.contain('already replaced');

      await lifecycle.disable(installed.id);
      expect(routing.require('pypi')).to.equal(core);
      expect((await store.getFormatHandler('pypi'))!.is_enabled).to.equal(true);
      await lifecycle.enable(installed.id);
      expect(routing.require('pypi').handlerType).to.equal('wasm');
      // Its repositories need no force: the core handler takes them back.
      await lifecycle.uninstall(installed.id, { force: false });
      expect(routing.require('pypi')).to.equal(core);
      expect(await store.getFormatHandler('pypi')).to.include({ handler_type: 'core', replaced_by: null, is_enabled: true, display_name: 'PyPI' });
      expect(handlersChanged).to.deep.equal(['pypi', 'pypi', 'pypi', 'pypi']);
      expect(await store.allPlugins()).to.deep.equal([]);

      // The flag on a key that is no core format installs as usual, with a warning.
      const plain = await lifecycle.install({ kind: 'local', path: await pluginFolder('demo', manifest('demo-format', '1.0.0', 'demo'), 'good'), replaceCore: true });
      expect(plain.warnings).to.include('replace_core ignored: demo is not a core format');
      expect((await store.getFormatHandler('demo'))!.handler_type).to.equal('wasm');
    });

    it('refuses components that are not usable handlers with every problem, and starts nothing', async () => {
      for (const [wasm, expected] of [
        ['core-module', 'core module'],
        ['missing-export', 'artifact-keeper:format/handler@1.0.0'],
        ['big-initial-memory', '64 MiB'],
      ] as const) {
        const dir = await pluginFolder('bad', manifest('bad-plugin', '1.0.0', 'bad'), wasm);
        const error = await expectRejection(lifecycle.install({ kind: 'local', path: dir }), ServiceError);
        expect(error.status, wasm).to.equal(422);
        expect(error.code).to.equal('plugin_validation_failed');
        expect(JSON.stringify(error.extra.validation_errors)).to.contain(expected);
      }
      expect(await store.allPlugins()).to.deep.equal([]);
      expect(await store.getFormatHandler('bad')).to.equal(undefined);
      expect(await leftovers()).to.deep.equal([]);
      expect(routing.get('bad')).to.equal(undefined);
    });

    it('disables (processes stop, format unavailable) and enables again', async () => {
      const installed = await installDemo();
      const [pid] = installed.runtime.pids;
      const disabled = await lifecycle.disable(installed.id);
      expect(disabled.status).to.equal('disabled');
      expect(disabled.runtime.pids).to.deep.equal([]);
      expect(isAlive(pid!)).to.equal(false);
      expect(() => routing.require('demo')).to.throw(FormatUnavailable);
      expect((await store.getFormatHandler('demo'))!.is_enabled).to.equal(false);

      const enabled = await lifecycle.enable(installed.id);
      expect(enabled.status).to.equal('active');
      expect(enabled.runtime.pids).to.have.length(1);
      expect((await routing.require('demo').parseMetadata('a', bytesSource(DEMO))).sizeBytes).to.equal(DEMO.byteLength);
      const types = (await lifecycle.events(installed.id, { limit: 10 })).items.map((e) => e.event_type);
      expect(types.slice(0, 4)).to.deep.equal(['format_handler_enabled', 'enabled', 'format_handler_disabled', 'disabled']);
    });

    it('two enables at once leave one running version, and no process of the other', async () => {
      const installed = await installDemo();
      await lifecycle.disable(installed.id);
      const [first, second] = await Promise.all([lifecycle.enable(installed.id), lifecycle.enable(installed.id)]);
      const started = [...first.runtime.pids, ...second.runtime.pids];
      const { items } = await lifecycle.processes(installed.id);
      expect(items.map((process) => process.pid)).to.have.length(1);
      // Whichever version lost the race was drained: its process is gone.
      for (const pid of new Set(started)) expect(isAlive(pid), `pid ${pid}`).to.equal(items[0].pid === pid);
      expect((await routing.require('demo').parseMetadata('a', bytesSource(DEMO))).sizeBytes).to.equal(DEMO.byteLength);
    });

    it('reloads to a new version under calls, and a bad reload leaves the old one serving', async () => {
      const installed = await installDemo('1.0.0');
      const handler = routing.require('demo');
      let stop = false;
      let failures = 0;
      let calls = 0;
      const caller = (async () => {
        while (!stop) {
          await routing.require('demo').parseMetadata('a', bytesSource(DEMO)).then(() => calls++, () => failures++);
        }
      })();
      await pluginFolder('demo', manifest('demo-format', '1.1.0', 'demo'), 'good');
      const reloaded = await lifecycle.reload(installed.id, { kind: 'same' });
      expect(reloaded.version).to.equal('1.1.0');
      // The reload answers as an install does: what happened, and the warnings.
      expect(reloaded.message).to.match(/reloaded: 1\.0\.0 → 1\.1\.0, serving format demo/);
      expect(reloaded.warnings).to.be.an('array');
      expect(routing.require('demo')).to.not.equal(handler);

      await pluginFolder('demo', manifest('demo-format', '1.2.0', 'demo'), 'wrong-key');
      const bad = await expectRejection(lifecycle.reload(installed.id, { kind: 'same' }), ServiceError);
      expect(bad.status).to.equal(422);
      // The same version number with a component that cannot start: refused, files untouched.
      await pluginFolder('demo', manifest('demo-format', '1.1.0', 'demo'), 'wrong-key');
      expect((await expectRejection(lifecycle.reload(installed.id, { kind: 'same' }), ServiceError)).status).to.equal(422);
      stop = true;
      await caller;
      expect(failures).to.equal(0);
      expect(calls).to.be.greaterThan(10);
      expect((await lifecycle.get(installed.id)).version).to.equal('1.1.0');
      expect((await routing.require('demo').parseMetadata('a', bytesSource(DEMO))).sizeBytes).to.equal(DEMO.byteLength);
      const events = (await lifecycle.events(installed.id, { limit: 10 })).items;
      expect(events[0]!.event_type).to.equal('reload_failed');
      const reloadEvent = events.find((e) => e.event_type === 'reloaded')!;
      expect(reloadEvent.details).to.include({ old_version: '1.0.0', new_version: '1.1.0' });
      // Only the serving version's folder is left: the refused 1.2.0 was removed, 1.0.0 retired.
      const serving = await lifecycle.get(installed.id);
      const servingDir = path.join(config.dataDir, 'plugins', installed.id);
      expect(await readdir(servingDir)).to.deep.equal([`1.1.0-${serving.wasm_sha256.slice(0, 12)}`]);
      expect(await readFile(path.join(servingDir, `1.1.0-${serving.wasm_sha256.slice(0, 12)}`, 'plugin.wasm'))).to.deep.equal(
        Buffer.from(await fixtureWasm('good')),
      );
    });

    it('applies new limits by restarting the processes with them', async () => {
      const installed = await installDemo();
      const updated = await lifecycle.setLimits(installed.id, { instances: 2, timeout_secs: 7 });
      expect(updated.resource_limits).to.deep.equal({ memory_mb: 64, timeout_secs: 7, instances: 2 });
      expect(updated.runtime.pids).to.have.length(2);
      expect(updated.runtime.pids).to.not.include(installed.runtime.pids[0]);
      expect(isAlive(installed.runtime.pids[0]!)).to.equal(false);
    });

    it('uninstall: 409 with dependent repositories, force removes everything but the events', async () => {
      const installed = await installDemo();
      dependents.byFormat.set('demo', [{ id: 'r1', key: 'libs' }]);
      const refused = await expectRejection(lifecycle.uninstall(installed.id, { force: false }), ServiceError);
      expect(refused.status).to.equal(409);
      expect(refused.code).to.equal('dependency_conflict');
      expect(refused.extra.dependent_repositories).to.deep.equal([{ id: 'r1', key: 'libs' }]);
      expect((await lifecycle.get(installed.id)).status).to.equal('active');

      await lifecycle.uninstall(installed.id, { force: true });
      expect((await expectRejection(lifecycle.get(installed.id), ServiceError)).status).to.equal(404);
      expect(routing.get('demo')).to.equal(undefined);
      expect(await store.getFormatHandler('demo')).to.equal(undefined);
      expect(await store.getBinary(installed.wasm_sha256)).to.equal(undefined);
      expect(isAlive(installed.runtime.pids[0]!)).to.equal(false);
      expect(await leftovers()).to.deep.equal([]);
      const events = (await lifecycle.events(installed.id, { limit: 50 })).items;
      expect(events[0]!.event_type).to.equal('uninstalled');
      expect((await expectRejection(lifecycle.events('00000000-0000-4000-8000-000000000000', { limit: 5 }), ServiceError)).status).to.equal(404);
    });

    it('restarts active plugins at start; one that cannot start is marked error without blocking the others', async () => {
      const demo = await installDemo();
      const trapDir = await pluginFolder('trap', manifest('trap-format', '1.0.0', 'trap'), 'trap');
      const trap = await lifecycle.install({ kind: 'local', path: trapDir });
      await Promise.all(nodes.splice(0).map((node) => node.stop()));
      // A memory limit of 0 MB, as if the row were damaged: this plugin cannot start.
      await store.updatePlugin(trap.id, { resource_limits: { ...trap.resource_limits, memory_mb: 0 } });

      routing = new RoutingTable();
      const restarted = await newLifecycle();
      expect((await routing.require('demo').parseMetadata('a', bytesSource(DEMO))).sizeBytes).to.equal(DEMO.byteLength);
      expect((await restarted.get(demo.id)).runtime.pids).to.have.length(1);
      const failed = await restarted.get(trap.id);
      expect(failed.status).to.equal('error');
      expect(failed.error_message).to.contain('failed to start');
    });

    it('quarantines a crash-looping plugin on its node (status error, format unavailable) until it is enabled again', async () => {
      const dir = await pluginFolder('trap', manifest('trap-format', '1.0.0', 'trap'), 'trap');
      const installed = await lifecycle.install({ kind: 'local', path: dir });
      // Traps inside calls never count toward quarantine (a client's input can cause them)...
      const trapping = new TextEncoder().encode('TRAP');
      for (let i = 0; i < 6; i++) {
        const handler = routing.require('trap');
        const error = await handler.parseMetadata('x', bytesSource(trapping)).then(() => undefined, (e: unknown) => e);
        expect(error).to.be.instanceOf(PluginCrashed);
      }
      expect((await lifecycle.get(installed.id)).status).to.equal('active');
      // ...process deaths outside any call do.
      let pid: number | undefined;
      for (let i = 0; i < 5; i++) {
        const previous = pid;
        for (const deadline = Date.now() + 10_000; pid === previous && Date.now() < deadline; ) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          pid = (await lifecycle.get(installed.id)).runtime.pids[0] ?? previous;
        }
        process.kill(pid!, 'SIGKILL');
      }
      await new Promise((resolve) => setTimeout(resolve, 500)); // the quarantine is recorded asynchronously
      const quarantined = await lifecycle.get(installed.id);
      expect(quarantined.status).to.equal('error');
      expect(quarantined.error_message).to.contain('quarantined');
      expect(quarantined.nodes.map((node) => [node.node_id, node.state])).to.deep.equal([[config.cluster.nodeId, 'quarantined']]);
      await expectRejection(routing.require('trap').parseMetadata('x', bytesSource(DEMO)), FormatUnavailable);
      // The desired state is the admin's: a crash loop does not disable the format.
      expect((await store.getFormatHandler('trap'))!.is_enabled).to.equal(true);
      const events = (await lifecycle.events(installed.id, { limit: 50 })).items;
      expect(events.map((e) => e.event_type)).to.include.members(['crashed', 'quarantined']);
      expect(events.find((e) => e.event_type === 'quarantined')!.node_id).to.equal(config.cluster.nodeId);

      const enabled = await lifecycle.enable(installed.id);
      expect(enabled.status).to.equal('active');
      expect((await routing.require('trap').parseMetadata('x', bytesSource(DEMO))).version).to.equal('1');
    });
  });
}
