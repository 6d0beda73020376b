// The log writer (rate per plugin, bounded buffer, drop notices, batches) and reader (pages,
// followers and their bound) on a real store, both engines.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pino from 'pino';
import { PluginLogReader } from '../../supervisor/services/logs/reader.js';
import { PluginLogWriter } from '../../supervisor/services/logs/writer.js';
import { ServiceError } from '../../supervisor/services/errors.js';
import { openStore } from '../../supervisor/store/open.js';
import type { Store } from '../../supervisor/store/store.js';
import { expectRejection } from '../support/assertions.js';
import { postgresFixture, sqliteFixture, type EngineFixture } from '../support/engines.js';

for (const fixture of [sqliteFixture(), postgresFixture()]) {
  describe(`plugin logs: writer and reader (${fixture.engine})`, () => {
    let engine: EngineFixture;
    let store: Store;
    let pluginId: string;
    const writers: PluginLogWriter[] = [];
    const settings = { lines: 1000, bytes: 1024 * 1024, ratePerSecond: 100, burst: 10 };

    before(async () => {
      engine = fixture;
      store = await openStore(await engine.create());
    });
    after(async () => {
      await store?.close();
      await engine?.dispose();
    });
    beforeEach(async () => {
      const wasm = new Uint8Array(randomBytes(32));
      const sha256 = createHash('sha256').update(wasm).digest('hex');
      await store.putBinary(sha256, wasm);
      pluginId = randomUUID();
      const name = `logs-${pluginId.slice(0, 8)}`;
      await store.insertPlugin({
        id: pluginId, name, version: '1.0.0', display_name: null, description: null, author: null, homepage: null, license: null,
        status: 'active', plugin_type: 'format_handler', source_type: 'wasm_zip', source_url: null, source_ref: null, source_path: null,
        resolved_commit: null, wasm_sha256: sha256, format_key: name,
        capabilities: { parse_metadata: true, validate_artifact: false, generate_index: false, handle_request: false },
        resource_limits: { memory_mb: 64, timeout_secs: 5, instances: 1 }, limits_override: null, manifest: {}, error_message: null, enabled_at: null,
      });
    });
    afterEach(async () => {
      await Promise.all(writers.splice(0).map((writer) => writer.stop()));
    });

    function writer(options: Partial<ConstructorParameters<typeof PluginLogWriter>[0]> = {}) {
      const created = new PluginLogWriter({ store, nodeId: 'node-1', settings, logger: pino({ level: 'silent' }), flushMs: 60_000, ...options });
      writers.push(created);
      return created;
    }

    it('keeps a burst of lines, drops the rest over the rate and says how many in one host line', async () => {
      const dropped: number[] = [];
      const logs = writer({ onDropped: (_plugin, _version, count) => dropped.push(count) });
      for (let i = 0; i < 50; i++) logs.write(pluginId, '1.0.0', 77, 'stdout', `line ${i}`);
      logs.note(pluginId, '1.0.0', 77, 'crashed: the supervisor says so, past the rate');
      await logs.flush();
      const lines = await store.listPluginLogs(pluginId, { limit: 100 });
      expect(lines.filter((line) => line.stream === 'stdout').map((line) => line.text)).to.deep.equal(Array.from({ length: 10 }, (_, i) => `line ${i}`));
      const host = lines.filter((line) => line.stream === 'host').map((line) => line.text);
      expect(host).to.deep.equal(['crashed: the supervisor says so, past the rate', 'dropped 40 lines: over the limit of 100 lines/s (burst 10) on node node-1']);
      expect(lines.every((line) => line.node_id === 'node-1' && line.pid === 77 && line.version === '1.0.0')).to.equal(true);
      expect(dropped).to.deep.equal([40]);
      // The bucket refills at the rate: 100 ms later, about ten more lines pass.
      await new Promise((resolve) => setTimeout(resolve, 100));
      for (let i = 0; i < 50; i++) logs.write(pluginId, '1.0.0', 77, 'stderr', `later ${i}`);
      await logs.flush();
      const later = (await store.listPluginLogs(pluginId, { limit: 100, stream: 'stderr' })).length;
      expect(later).to.be.within(8, 20);
      // At most one notice a second: the second drop is counted now, said later.
      expect(dropped).to.deep.equal([40, 50 - later]);
      expect((await store.listPluginLogs(pluginId, { limit: 100, stream: 'host' })).length).to.equal(2);
    });

    it('bounds the lines waiting for a flush, counting the excess as dropped', async () => {
      const logs = writer({ maxBuffered: 5, settings: { ...settings, burst: 1000 } });
      for (let i = 0; i < 20; i++) logs.write(pluginId, '1.0.0', 1, 'stdout', `line ${i}`);
      await logs.flush();
      const lines = await store.listPluginLogs(pluginId, { limit: 100 });
      expect(lines.map((line) => line.text)).to.deep.equal(['line 0', 'line 1', 'line 2', 'line 3', 'line 4', 'dropped 15 lines: over the limit of 100 lines/s (burst 1000) on node node-1']);
    });

    it('follows new lines from the store, and serves a bounded number of followers', async () => {
      const reader = new PluginLogReader(store, { pollMs: 20, maxFollowers: 1 });
      const logs = writer({ flushMs: 20 });
      logs.write(pluginId, '1.0.0', 1, 'stdout', 'before following');
      await logs.flush();
      const abort = new AbortController();
      const batches = await reader.follow(pluginId, undefined, abort.signal);
      const busy = await expectRejection(reader.follow(pluginId, undefined, new AbortController().signal), ServiceError);
      expect(busy).to.include({ status: 503, code: 'too_many_streams' });
      logs.write(pluginId, '1.0.0', 1, 'stdout', 'new one');
      const first = await batches.next();
      expect((first.value as any[]).map((line) => line.text)).to.deep.equal(['new one']);
      abort.abort();
      expect((await batches.next()).done).to.equal(true);
      // The place is free again; a follower from a cursor gets what it missed.
      const again = await reader.follow(pluginId, 0, new AbortController().signal);
      expect(((await again.next()).value as any[]).map((line) => line.text)).to.deep.equal(['before following', 'new one']);
      await again.return(undefined);
      expect(await reader.list(pluginId, { limit: 1 })).to.deep.include({ next: 2 });
      await expectRejection(reader.follow(randomUUID(), undefined, new AbortController().signal), ServiceError);
    });
  });
}
