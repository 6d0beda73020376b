// One suite, run on SQLite and on PostgreSQL: both engines must behave alike.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'chai';
import Database from 'better-sqlite3';
import pg from 'pg';
import { migrate } from '../../supervisor/store/migrate.js';
import { openStore } from '../../supervisor/store/open.js';
import { SQLITE_FILE } from '../../supervisor/store/sqlite.js';
import {
  CORE_FORMAT_KEYS,
  UniqueViolation,
  type NewPlugin,
  type NewPluginLogLine,
  type PluginPatch,
  type Store,
  type StoreOps,
} from '../../supervisor/store/store.js';
import { expectRejection } from '../support/assertions.js';
import { migrationFileNames, postgresFixture, sqliteFixture, type EngineFixture, type StoreConfig } from '../support/engines.js';

const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

for (const fixture of [sqliteFixture(), postgresFixture()]) {
  describe(`store on ${fixture.engine}`, () => storeSuite(fixture));
}

function storeSuite(fixture: EngineFixture): void {
  let config: StoreConfig;
  let store: Store;

  before(async () => {
    config = await fixture.create();
    store = await openStore(config);
  });

  after(async () => {
    await store?.close();
    await fixture.dispose();
  });

  beforeEach(async () => {
    // Each test starts without plugins (their handlers go with them); binaries, events and
    // tokens are named uniquely per test.
    for (const plugin of await store.allPlugins()) await store.deletePlugin(plugin.id);
  });

  describe('migrations', () => {
    it('opens the engine the configuration names', () => {
      expect(store.engine).to.equal(fixture.engine);
    });

    it('are applied once: opening again applies nothing and keeps the data', async () => {
      const driver = fixture.openDriver(config);
      try {
        const before = await driver.db.all('SELECT version, name, applied_at FROM schema_migrations ORDER BY version');
        expect(before.map((row) => row.name)).to.deep.equal(await migrationFileNames());
        expect(await migrate(driver)).to.deep.equal([]);
        expect(await driver.db.all('SELECT version, name, applied_at FROM schema_migrations ORDER BY version')).to.deep.equal(before);
      } finally {
        await driver.close();
      }
      const again = await openStore(config);
      try {
        expect(await again.listFormatHandlers({})).to.have.length(CORE_FORMAT_KEYS.length);
      } finally {
        await again.close();
      }
    });

    it('seed the 13 core format handlers, enabled', async () => {
      const handlers = await store.listFormatHandlers({ handler_type: 'core' });
      expect(handlers.map((handler) => handler.format_key)).to.deep.equal([...CORE_FORMAT_KEYS].sort());
      expect(await store.countEnabledFormatHandlers()).to.equal(13);
      const maven = await store.getFormatHandler('maven');
      expect(maven).to.include({ display_name: 'Maven', handler_type: 'core', plugin_id: null, is_enabled: true, priority: 0 });
      expect(maven!.extensions).to.include('.jar');
      expect(maven!.capabilities).to.deep.equal({
        parse_metadata: true,
        validate_artifact: true,
        generate_index: true,
        handle_request: false,
      });
      for (const handler of handlers) {
        expect(handler.id).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
        expect(handler.created_at).to.match(RFC3339_UTC);
        // UTC, not the session's local time: within a few minutes of now.
        expect(Math.abs(Date.parse(handler.created_at) - Date.now())).to.be.below(5 * 60_000);
      }
      expect(await store.listFormatHandlers({ handler_type: 'wasm' })).to.deep.equal([]);
      expect(await store.listFormatHandlers({ enabled: false })).to.deep.equal([]);
    });
  });

  describe('plugins', () => {
    it('are inserted and found by id, name and format key, every field as written', async () => {
      const plugin = samplePlugin(await putWasm(store), 'alpha');
      const inserted = await store.insertPlugin(plugin);
      expect(inserted).to.deep.include(plugin);
      expect(inserted.installed_at).to.match(RFC3339_UTC);
      expect(inserted.updated_at).to.equal(inserted.installed_at);
      expect(await store.getPlugin(plugin.id)).to.deep.equal(inserted);
      expect(await store.getPluginByName('alpha')).to.deep.equal(inserted);
      expect(await store.getPluginByFormatKey('alpha-format')).to.deep.equal(inserted);
      expect(await store.getPlugin(randomUUID())).to.equal(undefined);
      expect(await store.getPluginByName('nope')).to.equal(undefined);
    });

    it('are listed by name, filtered by status, a page at a time with the total', async () => {
      const wasm = await putWasm(store);
      for (const [name, status] of [
        ['p1', 'active'],
        ['p2', 'disabled'],
        ['p3', 'active'],
        ['p4', 'error'],
        ['p5', 'active'],
      ] as const) {
        await store.insertPlugin(samplePlugin(wasm, name, { status }));
      }
      const firstPage = await store.listPlugins({ page: 1, per_page: 2 });
      expect(firstPage.total).to.equal(5);
      expect(firstPage.items.map((plugin) => plugin.name)).to.deep.equal(['p1', 'p2']);
      const active = await store.listPlugins({ status: 'active', page: 2, per_page: 2 });
      expect(active).to.deep.include({ total: 3 });
      expect(active.items.map((plugin) => plugin.name)).to.deep.equal(['p5']);
      expect((await store.listPlugins({ page: 4, per_page: 2 })).items).to.deep.equal([]);
      expect((await store.listPlugins({ plugin_type: 'format_handler', page: 1, per_page: 100 })).total).to.equal(5);
      expect((await store.allPlugins()).map((plugin) => plugin.name)).to.deep.equal(['p1', 'p2', 'p3', 'p4', 'p5']);
      await expectRejection(store.listPlugins({ page: 0, per_page: 2 }), RangeError);
    });

    it('are updated, with a new updated_at, never changing their id or install time', async () => {
      const inserted = await store.insertPlugin(samplePlugin(await putWasm(store), 'beta'));
      const patch = {
        status: 'error',
        error_message: 'start failed',
        limits_override: { memory_mb: 128 },
        enabled_at: null,
        id: randomUUID(),
        installed_at: '2000-01-01T00:00:00.000Z',
      } as PluginPatch;
      const updated = await store.updatePlugin(inserted.id, patch);
      expect(updated).to.deep.include({
        id: inserted.id,
        installed_at: inserted.installed_at,
        status: 'error',
        error_message: 'start failed',
        limits_override: { memory_mb: 128 },
        enabled_at: null,
        version: inserted.version,
      });
      expect(updated!.updated_at > inserted.updated_at).to.equal(true);
      expect(await store.getPlugin(inserted.id)).to.deep.equal(updated);
      expect(await store.updatePlugin(randomUUID(), { status: 'active' })).to.equal(undefined);
    });

    it('have a unique name and a unique format key', async () => {
      const wasm = await putWasm(store);
      await store.insertPlugin(samplePlugin(wasm, 'gamma'));
      const sameName = await expectRejection(store.insertPlugin(samplePlugin(wasm, 'gamma', { format_key: 'other' })), UniqueViolation);
      expect(sameName).to.include({ table: 'plugins', column: 'name' });
      const sameKey = await expectRejection(store.insertPlugin(samplePlugin(wasm, 'delta', { format_key: 'gamma-format' })), UniqueViolation);
      expect(sameKey).to.include({ table: 'plugins', column: 'format_key' });
      const other = await store.insertPlugin(samplePlugin(wasm, 'delta'));
      const renamed = await expectRejection(store.updatePlugin(other.id, { name: 'gamma' }), UniqueViolation);
      expect(renamed).to.include({ column: 'name' });
      expect(renamed.message).to.contain('plugins.name');
    });

    it('are deleted with their format handler', async () => {
      const plugin = await store.insertPlugin(samplePlugin(await putWasm(store), 'epsilon'));
      await store.insertFormatHandler(sampleHandler(plugin.id, plugin.format_key));
      expect(await store.deletePlugin(plugin.id)).to.equal(true);
      expect(await store.getPlugin(plugin.id)).to.equal(undefined);
      expect(await store.getFormatHandler(plugin.format_key)).to.equal(undefined);
      expect(await store.deletePlugin(plugin.id)).to.equal(false);
    });
  });

  describe('binaries', () => {
    it('come back byte for byte, as a Uint8Array', async () => {
      // ASCII digits: a value SQLite would turn into a number if it were stored as text.
      for (const wasm of [new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]), new TextEncoder().encode('12345'), new Uint8Array(0)]) {
        const sha256 = await putWasm(store, wasm);
        const stored = await store.getBinary(sha256);
        expect(stored).to.be.an.instanceOf(Uint8Array);
        expect(Buffer.isBuffer(stored)).to.equal(false);
        expect(stored).to.deep.equal(wasm);
      }
      expect(await store.getBinary('0'.repeat(64))).to.equal(undefined);
    });

    it('keep 5 MiB intact', async () => {
      const wasm = new Uint8Array(randomBytes(5 * 1024 * 1024));
      const sha256 = await putWasm(store, wasm);
      const stored = await store.getBinary(sha256);
      expect(stored!.byteLength).to.equal(wasm.byteLength);
      expect(Buffer.compare(stored!, wasm)).to.equal(0);
    });

    it('are stored once per content, under their own SHA-256 only', async () => {
      const wasm = new Uint8Array(randomBytes(32));
      const sha256 = await putWasm(store, wasm);
      await store.putBinary(sha256, wasm);
      expect(await store.getBinary(sha256)).to.deep.equal(wasm);
      const wrong = await expectRejection(store.putBinary('f'.repeat(64), wasm), Error);
      expect(wrong.message).to.contain(sha256);
      expect(await store.getBinary('f'.repeat(64))).to.equal(undefined);
    });

    it('are deleted only when no plugin references them', async () => {
      const unused = await putWasm(store);
      await store.deleteBinaryIfUnused(unused);
      expect(await store.getBinary(unused)).to.equal(undefined);

      const used = await putWasm(store);
      const plugin = await store.insertPlugin(samplePlugin(used, 'zeta'));
      await store.deleteBinaryIfUnused(used);
      expect(await store.getBinary(used)).to.be.an.instanceOf(Uint8Array);

      await store.deletePlugin(plugin.id);
      await store.deleteBinaryIfUnused(used);
      expect(await store.getBinary(used)).to.equal(undefined);
    });
  });

  describe('format handlers', () => {
    it('of a plugin are inserted, updated, counted and deleted; keys are unique', async () => {
      const plugin = await store.insertPlugin(samplePlugin(await putWasm(store), 'eta'));
      const inserted = await store.insertFormatHandler(sampleHandler(plugin.id, plugin.format_key));
      expect(inserted).to.include({ handler_type: 'wasm', plugin_id: plugin.id, is_enabled: true });
      expect(inserted.extensions).to.deep.equal(['.eta']);
      expect(await store.countEnabledFormatHandlers()).to.equal(14);

      const disabled = await store.updateFormatHandler(plugin.format_key, { is_enabled: false, priority: 5 });
      expect(disabled).to.include({ is_enabled: false, priority: 5, created_at: inserted.created_at });
      expect(disabled!.updated_at > inserted.updated_at).to.equal(true);
      expect(await store.countEnabledFormatHandlers()).to.equal(13);
      expect((await store.listFormatHandlers({ enabled: false })).map((handler) => handler.format_key)).to.deep.equal([plugin.format_key]);
      expect(await store.updateFormatHandler('nope', { is_enabled: true })).to.equal(undefined);

      const duplicate = await expectRejection(store.insertFormatHandler(sampleHandler(plugin.id, 'npm')), UniqueViolation);
      expect(duplicate).to.include({ table: 'format_handlers', column: 'format_key' });

      expect(await store.deleteFormatHandler(plugin.format_key)).to.equal(true);
      expect(await store.deleteFormatHandler(plugin.format_key)).to.equal(false);
    });
  });

  describe('events', () => {
    it('are listed newest first, by severity, up to the limit, and outlive their plugin', async () => {
      const plugin = await store.insertPlugin(samplePlugin(await putWasm(store), 'theta'));
      const written = [];
      for (const [event_type, severity] of [
        ['installed', 'info'],
        ['crashed', 'error'],
        ['restarted', 'warning'],
        ['enabled', 'info'],
      ] as const) {
        written.push(await store.addEvent({ plugin_id: plugin.id, event_type, severity, message: event_type, details: { n: written.length } }));
      }
      expect(written[0]!.id).to.match(/^[0-9a-f-]{36}$/);
      expect(written[0]!.created_at).to.match(RFC3339_UTC);

      const all = await store.listEvents(plugin.id, { limit: 50 });
      expect(all.map((event) => event.event_type)).to.deep.equal(['enabled', 'restarted', 'crashed', 'installed']);
      expect(all[3]).to.deep.equal(written[0]);
      expect((await store.listEvents(plugin.id, { severity: 'info', limit: 50 })).map((event) => event.event_type)).to.deep.equal(['enabled', 'installed']);
      expect((await store.listEvents(plugin.id, { limit: 2 })).map((event) => event.event_type)).to.deep.equal(['enabled', 'restarted']);

      await store.deletePlugin(plugin.id);
      expect(await store.hasEvents(plugin.id)).to.equal(true);
      expect(await store.listEvents(plugin.id, { limit: 50 })).to.deep.equal(all);
      expect(await store.hasEvents(randomUUID())).to.equal(false);
      expect(await store.listEvents(randomUUID(), { limit: 50 })).to.deep.equal([]);
    });
  });

  describe('cluster nodes, node states and processes', () => {
    /** A node's row as it last recorded itself: registered, then its heartbeat time and state set as given. */
    const putNode = async (nodeId: string, lastSeen: string, state: 'up' | 'leaving' = 'up') => {
      await store.putClusterNode({ node_id: nodeId, incarnation: randomUUID(), url: null, version: '0.1.0' });
      const driver = fixture.openDriver(config);
      try {
        await driver.db.run('UPDATE cluster_nodes SET last_seen_at = ?, state = ? WHERE node_id = ?', [lastSeen, state, nodeId]);
      } finally {
        await driver.close();
      }
    };
    const process = (pluginId: string, slot: number, pid: number | null) => ({
      node_id: 'ignored: the node given is used',
      plugin_id: pluginId,
      slot,
      pid,
      version: '1.0.0',
      state: 'ready' as const,
      started_at: '2025-01-01T00:00:00.000Z',
      rss_bytes: 50_000_000,
      cpu_percent: 1.25,
      wasm_memory_bytes: 1_114_112,
      in_flight: 0,
      calls_total: 7,
      errors_total: 1,
      restarts: 0,
      last_exit: pid === null ? { code: null, signal: 'SIGKILL', reason: 'crashed' as const, message: 'the plugin process exited unexpectedly', at: '2026-01-01T00:00:00.000Z', stderr_tail: ['panic'] } : null,
    });

    it('keep one state per plugin and node, only of live nodes when listed, and nothing for a plugin that is gone', async () => {
      const plugin = await store.insertPlugin(samplePlugin(await putWasm(store), 'nodal'));
      expect(plugin.generation).to.equal(1);
      const fresh = new Date().toISOString();
      await putNode('n-live', fresh);
      await putNode('n-stale', '2020-01-01T00:00:00.000Z');
      await putNode('n-leaving', fresh, 'leaving');
      const state = { plugin_id: plugin.id, version: '1.0.0', generation: 1, state: 'starting' as const, pids: [], error_message: null };
      for (const nodeId of ['n-live', 'n-stale', 'n-leaving']) await store.putNodeState({ ...state, node_id: nodeId });
      await store.putNodeState({ ...state, node_id: 'n-live', generation: 2, state: 'error', pids: [12, 13], error_message: 'no' });
      const since = new Date(Date.now() - 60_000).toISOString();
      const live = await store.listNodeStates({ pluginId: plugin.id, seenSince: since });
      expect(live).to.have.length(1);
      expect(live[0]).to.deep.include({ node_id: 'n-live', generation: 2, state: 'error', pids: [12, 13], error_message: 'no' });
      expect(live[0]!.updated_at).to.match(RFC3339_UTC);
      expect((await store.listNodeStates({ seenSince: since })).map((row) => row.plugin_id)).to.deep.equal([plugin.id]);
      expect((await store.nodeStatesOf('n-stale')).map((row) => row.state)).to.deep.equal(['starting']);

      // A node of a plugin uninstalled meanwhile writes nothing, and fails nothing.
      await store.putNodeState({ ...state, plugin_id: randomUUID(), node_id: 'n-live' });
      expect(await store.nodeStatesOf('n-live')).to.have.length(1);
      await store.deletePlugin(plugin.id);
      expect(await store.nodeStatesOf('n-live')).to.deep.equal([]);
    });

    it('replace a node\'s processes as a set, list those of live nodes, and go with their node', async () => {
      const plugin = await store.insertPlugin(samplePlugin(await putWasm(store), 'proc'));
      const fresh = new Date().toISOString();
      await putNode('p-one', fresh);
      await putNode('p-two', fresh);
      await store.replaceNodeProcesses('p-one', [process(plugin.id, 0, 101), process(plugin.id, 1, null), process(randomUUID(), 0, 5)]);
      await store.replaceNodeProcesses('p-two', [process(plugin.id, 0, 201)]);
      await store.transaction((tx) => tx.replaceNodeProcesses('p-two', [process(plugin.id, 0, 202)]));
      const since = new Date(Date.now() - 60_000).toISOString();
      const listed = await store.listProcesses(plugin.id, since);
      expect(listed.map((row) => [row.node_id, row.slot, row.pid])).to.deep.equal([
        ['p-one', 0, 101],
        ['p-one', 1, null],
        ['p-two', 0, 202],
      ]);
      expect(listed[1]).to.deep.include({ ...process(plugin.id, 1, null), node_id: 'p-one' });

      await putNode('p-one', fresh, 'leaving');
      expect((await store.listProcesses(plugin.id, since)).map((row) => row.node_id)).to.deep.equal(['p-two']);
      await store.putNodeState({ plugin_id: plugin.id, node_id: 'p-two', version: '1.0.0', generation: 1, state: 'running', pids: [202], error_message: null });
      await store.deleteNodeRuntime('p-two');
      expect(await store.listProcesses(plugin.id, since)).to.deep.equal([]);
      expect(await store.nodeStatesOf('p-two')).to.deep.equal([]);
    });

    it('cascade to the node\'s rows when a node is pruned', async () => {
      const plugin = await store.insertPlugin(samplePlugin(await putWasm(store), 'pruned'));
      await putNode('gone', new Date().toISOString());
      await store.putNodeState({ plugin_id: plugin.id, node_id: 'gone', version: '1.0.0', generation: 1, state: 'running', pids: [1], error_message: null });
      await store.replaceNodeProcesses('gone', [process(plugin.id, 0, 1)]);
      const driver = fixture.openDriver(config);
      try {
        await driver.db.run('DELETE FROM cluster_nodes WHERE node_id = ?', ['gone']);
      } finally {
        await driver.close();
      }
      expect(await store.nodeStatesOf('gone')).to.deep.equal([]);
      expect(await store.listProcesses(plugin.id, '2000-01-01T00:00:00.000Z')).to.deep.equal([]);
    });

    // Several nodes share a database on PostgreSQL only.
    if (fixture.engine === 'postgres') it('delete a plugin while another node rewrites its process rows, without a deadlock', async () => {
      const [kept, deleted] = [await store.insertPlugin(samplePlugin(await putWasm(store), 'kept')), await store.insertPlugin(samplePlugin(await putWasm(store), 'deleted'))];
      await putNode('beating', new Date().toISOString());
      await store.replaceNodeProcesses('beating', [process(kept.id, 0, 1), process(deleted.id, 0, 2)]);
      // The other node's heartbeat, paused between its two steps: its rows deleted, then written again.
      const heartbeat = new pg.Client({ connectionString: config.databaseUrl });
      await heartbeat.connect();
      try {
        await heartbeat.query("CREATE TEMP TABLE earlier AS SELECT * FROM plugin_processes WHERE node_id = 'beating'");
        await heartbeat.query('BEGIN');
        await heartbeat.query("DELETE FROM plugin_processes WHERE node_id = 'beating'");
        const deleting = store.transaction((tx) => tx.deletePlugin(deleted.id));
        // The deletion waits for the heartbeat's rows (or, before the fix, holds the plugin row and waits).
        await delay(300);
        // The heartbeat writes its rows again: a deadlock, before the fix, once the deletion waits for them.
        await heartbeat.query('INSERT INTO plugin_processes SELECT * FROM earlier WHERE EXISTS (SELECT 1 FROM plugins WHERE id = earlier.plugin_id)');
        await heartbeat.query('COMMIT');
        expect(await deleting).to.equal(true);
      } finally {
        await heartbeat.end();
      }
      expect(await store.getPlugin(deleted.id)).to.equal(undefined);
      expect((await store.listProcesses(kept.id, '2000-01-01T00:00:00.000Z')).map((row) => row.pid)).to.deep.equal([1]);
      expect(await store.listProcesses(deleted.id, '2000-01-01T00:00:00.000Z')).to.deep.equal([]);
    });
  });

  describe('tokens', () => {
    it('are found by hash until revoked, and touched', async () => {
      const token = { id: randomUUID(), name: 'ci', role: 'reader' as const, token_hash: sha256Hex(randomBytes(32)) };
      const inserted = await store.insertToken(token);
      expect(inserted).to.include({ ...token, last_used_at: null, revoked_at: null });
      expect(await store.findTokenByHash(token.token_hash)).to.deep.equal(inserted);
      expect(await store.findTokenByHash(sha256Hex(randomBytes(32)))).to.equal(undefined);

      await store.touchToken(token.id);
      const touched = await store.findTokenByHash(token.token_hash);
      expect(touched!.last_used_at).to.match(RFC3339_UTC);

      const duplicate = await expectRejection(store.insertToken({ ...token, id: randomUUID() }), UniqueViolation);
      expect(duplicate).to.include({ table: 'api_tokens', column: 'token_hash' });

      expect(await store.revokeToken(token.id)).to.equal(true);
      expect(await store.findTokenByHash(token.token_hash)).to.equal(undefined);
      expect(await store.revokeToken(token.id)).to.equal(false);
      const listed = (await store.listTokens()).find((row) => row.id === token.id);
      expect(listed!.revoked_at).to.match(RFC3339_UTC);
    });
  });

  describe('repositories', () => {
    const sampleRepository = (key: string, format = 'npm') => ({
      id: randomUUID(),
      key,
      format,
      description: `the ${key} repository`,
      public: false,
    });

    it('are inserted, found by key, listed by key (filtered by format), and deleted', async () => {
      const suffix = randomBytes(4).toString('hex');
      const beta = await store.insertRepository({ ...sampleRepository(`beta-${suffix}`, `fmt-${suffix}`), public: true });
      const alpha = await store.insertRepository({ ...sampleRepository(`alpha-${suffix}`, `fmt-${suffix}`), description: null });
      const other = await store.insertRepository(sampleRepository(`gamma-${suffix}`, `other-${suffix}`));
      expect(beta).to.include({ key: `beta-${suffix}`, format: `fmt-${suffix}`, description: `the beta-${suffix} repository`, public: true });
      expect(alpha).to.include({ description: null, public: false });
      expect(alpha.created_at).to.match(RFC3339_UTC);
      expect(alpha.updated_at).to.equal(alpha.created_at);

      expect(await store.getRepository(beta.key)).to.deep.equal(beta);
      expect(await store.getRepository(`nowhere-${suffix}`)).to.equal(undefined);

      const all = (await store.listRepositories({})).map((row) => row.key);
      expect(all).to.include.members([alpha.key, beta.key, other.key]);
      expect(all).to.deep.equal([...all].sort());
      expect(await store.listRepositories({ format: `fmt-${suffix}` })).to.deep.equal([alpha, beta]);
      expect(await store.repositoriesForFormat(`fmt-${suffix}`)).to.deep.equal([
        { id: alpha.id, key: alpha.key },
        { id: beta.id, key: beta.key },
      ]);
      expect(await store.repositoriesForFormat(`none-${suffix}`)).to.deep.equal([]);

      expect(await store.deleteRepository(alpha.key)).to.equal(true);
      expect(await store.deleteRepository(alpha.key)).to.equal(false);
      expect(await store.getRepository(alpha.key)).to.equal(undefined);
      expect(await store.repositoriesForFormat(`fmt-${suffix}`)).to.deep.equal([{ id: beta.id, key: beta.key }]);
      await store.deleteRepository(beta.key);
      await store.deleteRepository(other.key);
    });

    it('have a unique key', async () => {
      const key = `dup-${randomBytes(4).toString('hex')}`;
      await store.insertRepository(sampleRepository(key));
      const duplicate = await expectRejection(store.insertRepository(sampleRepository(key, 'maven')), UniqueViolation);
      expect(duplicate).to.include({ table: 'repositories', column: 'key' });
      expect((await store.getRepository(key))!.format).to.equal('npm');
      await store.deleteRepository(key);
    });
  });

  describe('artifacts and index files', () => {
    const newRepository = () => store.insertRepository({ id: randomUUID(), key: `arts-${randomBytes(4).toString('hex')}`, format: 'generic', description: null, public: false });
    const artifact = (repositoryId: string, path: string, checksum: string) => ({
      id: randomUUID(),
      repository_id: repositoryId,
      path,
      size_bytes: 5_000_000_000,
      checksum_sha256: checksum,
      version: '1.0.0',
      content_type: 'application/gzip',
      metadata: { path, version: '1.0.0', nested: { list: [1, 2] } },
    });
    const sha = (text: string) => createHash('sha256').update(text).digest('hex');

    it('are inserted, listed in the same order on both engines, filtered by prefix, replaced and deleted', async () => {
      const repository = await newRepository();
      // Mixed case, punctuation and a non-ASCII path: a locale collation would order them differently.
      for (const path of ['b/Z.txt', 'b/a.txt', 'B/c.txt', 'b-c/d.txt', 'é/x', 'b_/x', '%/y']) await store.insertArtifact(artifact(repository.id, path, sha(path)));
      const listed = await store.listArtifacts(repository.id, {});
      expect(listed.map((row) => row.path)).to.deep.equal(['%/y', 'B/c.txt', 'b-c/d.txt', 'b/Z.txt', 'b/a.txt', 'b_/x', 'é/x']);
      expect(listed[0]).to.include({ size_bytes: 5_000_000_000, version: '1.0.0', content_type: 'application/gzip' });
      expect(listed[0].metadata).to.deep.equal({ path: '%/y', version: '1.0.0', nested: { list: [1, 2] } });
      // `%` and `_` are not wildcards; the prefix counts characters, not bytes.
      expect((await store.listArtifacts(repository.id, { prefix: 'b/' })).map((row) => row.path)).to.deep.equal(['b/Z.txt', 'b/a.txt']);
      expect((await store.listArtifacts(repository.id, { prefix: 'b_' })).map((row) => row.path)).to.deep.equal(['b_/x']);
      expect((await store.listArtifacts(repository.id, { prefix: '%' })).map((row) => row.path)).to.deep.equal(['%/y']);
      expect((await store.listArtifacts(repository.id, { prefix: 'é/' })).map((row) => row.path)).to.deep.equal(['é/x']);

      const taken = await expectRejection(store.insertArtifact(artifact(repository.id, 'b/a.txt', sha('other'))), UniqueViolation);
      expect(taken.table).to.equal('artifacts');
      const original = (await store.getArtifact(repository.id, 'b/a.txt'))!;
      const replaced = (await store.replaceArtifact({ ...artifact(repository.id, 'b/a.txt', sha('new')), version: null }))!;
      expect(replaced).to.include({ id: original.id, created_at: original.created_at, checksum_sha256: sha('new'), version: null });
      expect(await store.replaceArtifact(artifact(repository.id, 'nowhere', sha('x')))).to.equal(undefined);

      expect(await store.blobInUse(sha('b/a.txt'))).to.equal(false);
      expect(await store.blobInUse(sha('new'))).to.equal(true);
      expect((await store.deleteArtifact(repository.id, 'b/a.txt'))!.checksum_sha256).to.equal(sha('new'));
      expect(await store.deleteArtifact(repository.id, 'b/a.txt')).to.equal(undefined);
      expect(await store.blobInUse(sha('new'))).to.equal(false);
      await store.deleteRepository(repository.key);
    });

    it('replace index files as a set, record the run, and go with their repository', async () => {
      const repository = await newRepository();
      await store.insertArtifact(artifact(repository.id, 'a.bin', sha('a')));
      const file = (path: string, checksum: string) => ({ repository_id: repository.id, path, size_bytes: 3, checksum_sha256: checksum, content_type: 'text/plain' });
      await store.transaction(async (tx) => {
        await tx.replaceIndexFiles(repository.id, [file('z/index.html', sha('z')), file('index.json', sha('i'))]);
        await tx.setRepositoryIndexState(repository.id, { index_generated_at: '2026-01-01T00:00:00.000Z', index_error: null });
      });
      expect((await store.listIndexFiles(repository.id)).map((row) => row.path)).to.deep.equal(['index.json', 'z/index.html']);
      expect(await store.getIndexFile(repository.id, 'index.json')).to.deep.equal(file('index.json', sha('i')));
      await store.replaceIndexFiles(repository.id, [file('index.json', sha('j'))]);
      expect(await store.listIndexFiles(repository.id)).to.deep.equal([file('index.json', sha('j'))]);
      expect(await store.blobInUse(sha('z'))).to.equal(false);
      expect(await store.blobInUse(sha('j'))).to.equal(true);

      await store.setRepositoryIndexState(repository.id, { index_generated_at: '2026-01-01T00:00:00.000Z', index_error: 'the plugin timed out' });
      const row = (await store.getRepositoryById(repository.id))!;
      expect(row).to.include({ index_generated_at: '2026-01-01T00:00:00.000Z', index_error: 'the plugin timed out' });
      expect(row.updated_at).to.equal(repository.updated_at);
      expect((await store.repositoryBlobs(repository.id)).sort()).to.deep.equal([sha('a'), sha('j')].sort());

      await store.deleteRepository(repository.key);
      expect(await store.listArtifacts(repository.id, {})).to.deep.equal([]);
      expect(await store.listIndexFiles(repository.id)).to.deep.equal([]);
      expect(await store.blobInUse(sha('a'))).to.equal(false);
    });

    it('pin blobs until released or lapsed, and take turns on a blob across connections', async () => {
      const repository = await newRepository();
      const digest = sha(`pinned ${randomUUID()}`);
      // Expiry is on the database's clock, whatever this process's says.
      const databaseNow = Date.parse(await store.databaseTime());
      const at = (offsetMs: number) => new Date(databaseNow + offsetMs).toISOString();
      const pin = { id: randomUUID(), sha256: digest, node_id: 'node-a', expires_at: at(3_600_000) };
      await store.transaction(async (tx) => {
        await tx.lockBlob(digest);
        await tx.pinBlob(pin);
      });
      expect(await store.blobInUse(digest)).to.equal(true);
      expect(await store.unusedBlobs(1000)).to.not.include(digest);
      await store.unpinBlob(pin.id);
      expect(await store.blobInUse(digest)).to.equal(false);
      expect(await store.unusedBlobs(1000)).to.include(digest);
      // Lapsed: the node that pinned it is presumed dead.
      const lapsed = { ...pin, id: randomUUID(), expires_at: at(-1) };
      await store.transaction(async (tx) => {
        await tx.lockBlob(digest);
        await tx.pinBlob(lapsed);
      });
      expect(await store.blobInUse(digest)).to.equal(false);
      // Named by an artifact: in use, not a sweep's.
      await store.insertArtifact(artifact(repository.id, 'pinned.bin', digest));
      expect(await store.blobInUse(digest)).to.equal(true);
      expect(await store.unusedBlobs(1000)).to.not.include(digest);
      await store.deleteArtifact(repository.id, 'pinned.bin');
      // The row goes, its lapsed pin with it.
      await store.transaction((tx) => tx.forgetBlob(digest));
      expect(await store.unusedBlobs(1000)).to.not.include(digest);
      await store.transaction(async (tx) => {
        await tx.lockBlob(digest);
        expect(await tx.blobInUse(digest)).to.equal(false);
      });

      // A second store on the same database (another node): its lock waits for the first one's
      // transaction. (SQLite has one supervisor per database; its transactions take turns in
      // one process, and a second connection there would block the event loop.)
      if (fixture.engine !== 'postgres') return store.deleteRepository(repository.key).then(() => undefined);
      const other = await openStore(config);
      try {
        let releaseFirst!: () => void;
        const held = new Promise<void>((resolve) => (releaseFirst = resolve));
        const order: string[] = [];
        const first = store.transaction(async (tx) => {
          await tx.lockBlob(digest);
          order.push('first locked');
          await held;
          order.push('first done');
        });
        await delay(50);
        const second = other.transaction(async (tx) => {
          await tx.lockBlob(digest);
          order.push('second locked');
        });
        await delay(100);
        releaseFirst();
        await Promise.all([first, second]);
        expect(order).to.deep.equal(['first locked', 'first done', 'second locked']);
      } finally {
        await other.close();
      }
      await store.deleteRepository(repository.key);
    });

    it('count index run requests and runs, and lock a name across connections', async () => {
      const repository = await newRepository();
      expect(await store.getIndexGenerations(repository.id)).to.deep.equal({ requested: 0, built: 0 });
      expect(await store.requestIndexRun(repository.id)).to.equal(1);
      expect(await store.requestIndexRun(repository.id)).to.equal(2);
      await store.setIndexBuilt(repository.id, 2);
      await store.setIndexBuilt(repository.id, 1);
      expect(await store.getIndexGenerations(repository.id)).to.deep.equal({ requested: 2, built: 2 });
      expect(await store.requestIndexRun(randomUUID())).to.equal(undefined);
      expect(await store.getIndexGenerations(randomUUID())).to.equal(undefined);

      const name = `lock ${randomUUID()}`;
      // SQLite has one supervisor per database: the second "node" is the same store there.
      const other = fixture.engine === 'postgres' ? await openStore(config) : store;
      try {
        const outcome = await store.tryExclusive(name, async () => {
          expect(await other.tryExclusive(name, async () => 'inner')).to.deep.equal({ ran: false });
          expect(await other.tryExclusive(`${name} too`, async () => 'other name')).to.deep.equal({ ran: true, value: 'other name' });
          return 'outer';
        });
        expect(outcome).to.deep.equal({ ran: true, value: 'outer' });
        // Released after the work, and after a failing work too.
        await expectRejection(store.tryExclusive(name, async () => Promise.reject(new Error('work failed'))), Error);
        expect(await other.tryExclusive(name, async () => 'free')).to.deep.equal({ ran: true, value: 'free' });
      } finally {
        if (other !== store) await other.close();
      }
      await store.deleteRepository(repository.key);
    });
  });

  describe('plugin logs', () => {
    const line = (text: string, extra: Partial<NewPluginLogLine> = {}): NewPluginLogLine => ({
      time: '2026-01-01T00:00:00.000Z',
      node_id: 'node-a',
      pid: 4242,
      version: '1.0.0',
      stream: 'stdout',
      text,
      ...extra,
    });
    const wide = { lines: 1000, bytes: 1024 * 1024 };

    it('number lines per plugin across batches, and list the newest matching ones oldest first', async () => {
      const plugin = await store.insertPlugin(samplePlugin(await putWasm(store), 'logger'));
      const other = await store.insertPlugin(samplePlugin(await putWasm(store), 'other-logger'));
      expect(await store.transaction((tx) => tx.appendPluginLogs(plugin.id, [line('one'), line('two', { stream: 'stderr' })], wide))).to.equal(2);
      await store.transaction((tx) => tx.appendPluginLogs(other.id, [line('elsewhere')], wide));
      await store.transaction((tx) =>
        tx.appendPluginLogs(plugin.id, [line('three', { node_id: 'node-b', pid: null, stream: 'host', time: '2026-01-01T00:00:05.000Z' }), line('four ünïcode')], wide),
      );
      const all = await store.listPluginLogs(plugin.id, { limit: 10 });
      expect(all.map((l) => [l.seq, l.text])).to.deep.equal([[1, 'one'], [2, 'two'], [3, 'three'], [4, 'four ünïcode']]);
      expect(all[2]).to.deep.equal({ seq: 3, time: '2026-01-01T00:00:05.000Z', node_id: 'node-b', pid: null, version: '1.0.0', stream: 'host', text: 'three' });
      expect((await store.listPluginLogs(plugin.id, { limit: 2 })).map((l) => l.seq)).to.deep.equal([3, 4]);
      expect((await store.listPluginLogs(plugin.id, { limit: 10, after: 2 })).map((l) => l.seq)).to.deep.equal([3, 4]);
      expect((await store.listPluginLogs(plugin.id, { limit: 10, stream: 'stderr' })).map((l) => l.text)).to.deep.equal(['two']);
      expect((await store.listPluginLogs(plugin.id, { limit: 10, since: '2026-01-01T00:00:01.000Z' })).map((l) => l.text)).to.deep.equal(['three']);
      expect((await store.listPluginLogs(other.id, { limit: 10 })).map((l) => [l.seq, l.text])).to.deep.equal([[1, 'elsewhere']]);
    });

    it('keep the newest lines within the line and byte retention', async () => {
      const plugin = await store.insertPlugin(samplePlugin(await putWasm(store), 'chatty'));
      for (let batch = 0; batch < 3; batch++) {
        const lines = Array.from({ length: 8 }, (_, i) => line(`line ${batch * 8 + i + 1}`));
        await store.transaction((tx) => tx.appendPluginLogs(plugin.id, lines, { lines: 10, bytes: 1024 * 1024 }));
      }
      const kept = await store.listPluginLogs(plugin.id, { limit: 100 });
      expect(kept.map((l) => l.seq)).to.deep.equal([15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
      // 100-byte lines, 350 bytes allowed: the newest three stay.
      await store.transaction((tx) => tx.appendPluginLogs(plugin.id, [line('a'.repeat(100)), line('b'.repeat(100)), line('c'.repeat(100)), line('d'.repeat(100))], { lines: 10, bytes: 350 }));
      expect((await store.listPluginLogs(plugin.id, { limit: 100 })).map((l) => l.text[0])).to.deep.equal(['b', 'c', 'd']);
      await store.transaction((tx) => tx.appendPluginLogs(plugin.id, [line('e'.repeat(100))], { lines: 10, bytes: 350 }));
      expect((await store.listPluginLogs(plugin.id, { limit: 100 })).map((l) => l.text[0])).to.deep.equal(['c', 'd', 'e']);
    });

    it('write nothing for a plugin that is gone, and go with their plugin', async () => {
      const plugin = await store.insertPlugin(samplePlugin(await putWasm(store), 'short-lived'));
      await store.transaction((tx) => tx.appendPluginLogs(plugin.id, [line('before')], wide));
      await store.deletePlugin(plugin.id);
      expect(await store.transaction((tx) => tx.appendPluginLogs(plugin.id, [line('after')], wide))).to.equal(0);
      expect(await store.listPluginLogs(plugin.id, { limit: 10 })).to.deep.equal([]);
    });

    it('number concurrent batches of one plugin without gaps or duplicates', async () => {
      const plugin = await store.insertPlugin(samplePlugin(await putWasm(store), 'busy'));
      await Promise.all(
        Array.from({ length: 8 }, (_, writer) =>
          store.transaction((tx) => tx.appendPluginLogs(plugin.id, Array.from({ length: 5 }, (_, i) => line(`w${writer} ${i}`)), wide)),
        ),
      );
      const seqs = (await store.listPluginLogs(plugin.id, { limit: 100 })).map((l) => l.seq);
      expect(seqs).to.deep.equal(Array.from({ length: 40 }, (_, i) => i + 1));
    });
  });

  describe('transactions', () => {
    it('commit everything the work wrote, and return its result', async () => {
      const wasm = new Uint8Array(randomBytes(64));
      const plugin = samplePlugin(sha256Hex(wasm), 'iota');
      const result = await store.transaction(async (tx) => {
        await tx.putBinary(plugin.wasm_sha256, wasm);
        await tx.insertPlugin(plugin);
        await tx.insertFormatHandler(sampleHandler(plugin.id, plugin.format_key));
        await tx.addEvent({ plugin_id: plugin.id, event_type: 'installed', severity: 'info', message: 'installed', details: {} });
        return 'done';
      });
      expect(result).to.equal('done');
      expect(await store.getPlugin(plugin.id)).to.deep.include(plugin);
      expect(await store.getBinary(plugin.wasm_sha256)).to.deep.equal(wasm);
      expect(await store.getFormatHandler(plugin.format_key)).to.include({ plugin_id: plugin.id });
      expect(await store.hasEvents(plugin.id)).to.equal(true);
    });

    it('roll everything back when the work throws, and rethrow its error', async () => {
      const wasm = new Uint8Array(randomBytes(64));
      const plugin = samplePlugin(sha256Hex(wasm), 'kappa');
      const failure = new Error('validation failed after writing');
      const thrown = await expectRejection(
        store.transaction(async (tx) => {
          await tx.putBinary(plugin.wasm_sha256, wasm);
          await tx.insertPlugin(plugin);
          await tx.insertFormatHandler(sampleHandler(plugin.id, plugin.format_key));
          await tx.addEvent({ plugin_id: plugin.id, event_type: 'installed', severity: 'info', message: 'installed', details: {} });
          await delay(5);
          throw failure;
        }),
        Error,
      );
      expect(thrown).to.equal(failure);
      await expectNothingLeft(store, plugin);
    });

    it('roll back when a statement fails, with the store error', async () => {
      const wasm = await putWasm(store);
      const existing = await store.insertPlugin(samplePlugin(wasm, 'lambda'));
      const plugin = samplePlugin(wasm, 'mu');
      await expectRejection(
        store.transaction(async (tx) => {
          await tx.insertPlugin(plugin);
          await tx.addEvent({ plugin_id: plugin.id, event_type: 'installed', severity: 'info', message: 'installed', details: {} });
          await tx.insertPlugin(samplePlugin(wasm, existing.name));
        }),
        UniqueViolation,
      );
      expect(await store.getPlugin(plugin.id)).to.equal(undefined);
      expect(await store.hasEvents(plugin.id)).to.equal(false);
    });

    it('hand the work a handle that stops working when the transaction ends', async () => {
      let kept: StoreOps | undefined;
      await store.transaction(async (tx) => {
        kept = tx;
      });
      await expectRejection(kept!.allPlugins(), Error);
    });

    if (fixture.engine === 'sqlite') {
      it('make calls made meanwhile wait until they end, then see what was committed', async () => {
        const plugin = samplePlugin(await putWasm(store), 'nu');
        const seen: string[] = [];
        let finish!: () => void;
        const finished = new Promise<void>((resolve) => (finish = resolve));
        const transaction = store.transaction(async (tx) => {
          await tx.insertPlugin(plugin);
          await finished;
          seen.push('commit');
        });
        await delay(20);
        const read = store.getPlugin(plugin.id).then((row) => {
          seen.push('read');
          return row;
        });
        await delay(50);
        expect(seen).to.deep.equal([]);
        finish();
        await transaction;
        expect(await read).to.deep.include(plugin);
        expect(seen).to.deep.equal(['commit', 'read']);
      });

      it('make calls made meanwhile wait and see nothing of a transaction rolled back', async () => {
        const plugin = samplePlugin(await putWasm(store), 'xi');
        const transaction = store.transaction(async (tx) => {
          await tx.insertPlugin(plugin);
          await delay(50);
          throw new Error('abandoned');
        });
        await delay(10);
        expect(await store.getPlugin(plugin.id)).to.equal(undefined);
        await expectRejection(transaction, Error);
      });

      it('refuse a call on the store itself from inside the work, instead of waiting forever', async () => {
        const error = await expectRejection(
          store.transaction(async () => {
            await store.allPlugins();
          }),
          Error,
        );
        expect(error.message).to.contain('inside its own transaction');
      });

      it('run on a database in WAL mode', async () => {
        const database = new Database(`${config.dataDir}/${SQLITE_FILE}`, { readonly: true });
        try {
          expect(database.pragma('journal_mode', { simple: true })).to.equal('wal');
        } finally {
          database.close();
        }
      });
    } else {
      it('let calls made meanwhile run on other connections, without seeing uncommitted rows', async () => {
        const plugin = samplePlugin(await putWasm(store), 'omicron');
        let finish!: () => void;
        const finished = new Promise<void>((resolve) => (finish = resolve));
        let inserted!: () => void;
        const written = new Promise<void>((resolve) => (inserted = resolve));
        const transaction = store.transaction(async (tx) => {
          await tx.insertPlugin(plugin);
          inserted();
          await finished;
        });
        await written;
        expect(await store.getPlugin(plugin.id)).to.equal(undefined);
        finish();
        await transaction;
        expect(await store.getPlugin(plugin.id)).to.deep.include(plugin);
      });
    }
  });

  it('answers a ping', async () => {
    await store.ping();
  });
}

function samplePlugin(wasmSha256: string, name: string, overrides: Partial<NewPlugin> = {}): NewPlugin {
  return {
    id: randomUUID(),
    name,
    version: '1.2.3',
    display_name: `The ${name} format`,
    description: null,
    author: 'Ada',
    homepage: 'https://example.com',
    license: 'MIT',
    status: 'active',
    plugin_type: 'format_handler',
    source_type: 'wasm_git',
    source_url: 'https://example.com/plugins.git',
    source_ref: 'main',
    source_path: 'plugins/x',
    resolved_commit: 'a'.repeat(40),
    wasm_sha256: wasmSha256,
    format_key: `${name}-format`,
    capabilities: { parse_metadata: true, validate_artifact: true, generate_index: false, handle_request: true },
    resource_limits: { memory_mb: 64, timeout_secs: 5, instances: 2 },
    limits_override: null,
    manifest: { plugin: { name, version: '1.2.3' }, format: { key: `${name}-format`, extensions: ['.x'] }, nested: [1, 'two', null] },
    error_message: null,
    enabled_at: '2025-01-01T00:00:00.000Z',
    ...overrides,
  };
}

function sampleHandler(pluginId: string, formatKey: string) {
  return {
    id: randomUUID(),
    format_key: formatKey,
    plugin_id: pluginId,
    handler_type: 'wasm' as const,
    display_name: formatKey,
    description: 'from a plugin',
    extensions: ['.eta'],
    is_enabled: true,
    priority: 0,
    capabilities: { parse_metadata: true, validate_artifact: true, generate_index: false, handle_request: false },
  };
}

async function putWasm(store: StoreOps, wasm: Uint8Array = new Uint8Array(randomBytes(64))): Promise<string> {
  const sha256 = sha256Hex(wasm);
  await store.putBinary(sha256, wasm);
  return sha256;
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function expectNothingLeft(store: Store, plugin: NewPlugin): Promise<void> {
  expect(await store.getPlugin(plugin.id)).to.equal(undefined);
  expect(await store.getBinary(plugin.wasm_sha256)).to.equal(undefined);
  expect(await store.getFormatHandler(plugin.format_key)).to.equal(undefined);
  expect(await store.hasEvents(plugin.id)).to.equal(false);
}
