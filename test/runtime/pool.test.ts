import { expect } from 'chai';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FormatKey, GenerateIndex, HandleRequest, ParseMetadata, Stats, Validate } from '../../protocol/methods.js';
import {
  ArtifactInvalid,
  FormatUnavailable,
  PluginCrashed,
  PluginMemoryExceeded,
  PluginTimeout,
} from '../../supervisor/runtime/errors.js';
import { PluginStartFailed, type PoolLimits, type RuntimeEvent, type VersionPool } from '../../supervisor/runtime/pool.js';
import { PluginRuntime, type RuntimeConfig } from '../../supervisor/runtime/runtime.js';
import { expectRejection, isAlive } from '../support/assertions.js';
import { fixtureWasm, type FixtureName } from '../support/fixtures.js';
import { stdoutLoggerComponent } from '../support/stdout-logger.js';
import { LINE_CUT_MARKER, MAX_LOG_LINE_BYTES } from '../../protocol/log-lines.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);
const byteSum = (data: Uint8Array) => data.reduce((sum, b) => (sum + b) >>> 0, 0);

/** Starts fixtures on one runtime and stops every pool it started after each test. */
class Harness {
  readonly runtime: PluginRuntime;
  readonly events: RuntimeEvent[] = [];
  private readonly pools: VersionPool[] = [];

  constructor(readonly dir: string, config: Partial<RuntimeConfig> = {}) {
    this.runtime = new PluginRuntime({ cacheDir: path.join(dir, 'cache'), ...config });
  }

  readonly logs: string[] = [];

  async start(name: FixtureName | Uint8Array, limits: Partial<PoolLimits> = {}, version = '1.0.0'): Promise<VersionPool> {
    const component = await this.runtime.prepare(typeof name === 'string' ? await fixtureWasm(name) : name);
    const pool = await this.runtime.startVersion({
      version,
      component,
      cwd: this.dir,
      limits: { memoryMb: 64, timeoutMs: 5000, instances: 1, ...limits },
      onEvent: (event) => this.events.push(event),
      log: (line) => this.logs.push(line),
    });
    this.pools.push(pool);
    return pool;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.pools.splice(0).map((pool) => pool.drain()));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

/** The pid of the pool's (single) child once one other than `previous` is ready. */
async function readyPid(pool: VersionPool, previous?: number): Promise<number> {
  let pid: number | undefined;
  await waitUntil(() => {
    pid = pool.pids()[0];
    return pid !== undefined && pid !== previous;
  });
  return pid!;
}

describe('plugin runtime: one version in its own child processes', function () {
  this.timeout(60_000);
  let dir: string;
  let h: Harness;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-runtime-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    h = new Harness(dir);
  });
  afterEach(async () => {
    await h.stopAll();
  });

  describe('a well-behaved plugin', () => {
    it('answers every handler call with the bytes it was given', async () => {
      const pool = await h.start('good');
      const data = new Uint8Array(70_000).map((_, i) => (i * 7) & 0xff);
      data.set(bytes('DEMO'));
      const metadata = await pool.call(ParseMetadata, { path: 'a/b.demo', data });
      expect(metadata).to.deep.equal({
        path: 'a/b.demo',
        version: String(byteSum(data)),
        contentType: 'application/x-demo',
        sizeBytes: data.byteLength,
        checksumSha256: null,
      });
      expect(await pool.call(Validate, { path: 'x', data })).to.equal(null);
      expect(await pool.call(FormatKey)).to.equal('demo');

      const index = await pool.call(GenerateIndex, { artifacts: [metadata, { ...metadata, path: 'c', version: null, sizeBytes: 3 }] });
      expect(index).to.have.length(1);
      expect(index![0]!.path).to.equal('index.txt');
      expect(index![0]!.content).to.be.instanceOf(Uint8Array);
      expect(text(index![0]!.content)).to.equal(`a/b.demo ${byteSum(data)} ${data.byteLength}\nc - 3\n`);
      expect(await pool.call(GenerateIndex, { artifacts: [] })).to.equal(null);
    });

    it("passes the plugin's own err message through as artifact_invalid", async () => {
      const pool = await h.start('good');
      const error = await expectRejection(pool.call(Validate, { path: 'x', data: bytes('NOPE') }), Error);
      expect(error).to.be.instanceOf(ArtifactInvalid);
      expect(error).to.have.property('code', 'artifact_invalid');
      expect(error.message).to.equal('bad magic: expected DEMO');
      const empty = await expectRejection(pool.call(Validate, { path: 'x', data: new Uint8Array(0) }), Error);
      expect(empty.message).to.equal('empty artifact');
    });

    it('refuses to start a component whose format-key differs from the manifest', async () => {
      const component = await h.runtime.prepare(await fixtureWasm('wrong-key'));
      const error = await expectRejection(
        h.runtime.startVersion({
          version: '1.0.0',
          component,
          cwd: dir,
          limits: { memoryMb: 64, timeoutMs: 5000, instances: 1 },
          expectedFormatKey: 'demo',
        }),
        PluginStartFailed,
      );
      expect(error.message).to.contain('"not-the-key"').and.contain('"demo"');
      // The failed start removed the cache entry its preparation wrote.
      expect(component.transpiled).to.equal(true);
      expect(await fs.readdir(path.join(dir, 'cache'))).to.not.include(component.sha256);
    });

    it('spreads calls across its instances', async () => {
      const pool = await h.start('good', { instances: 2 });
      expect(pool.pids()).to.have.length(2);
      const data = bytes('DEMO-spread');
      await Promise.all(Array.from({ length: 200 }, () => pool.call(ParseMetadata, { path: 'p', data })));
      const processes = await pool.processes();
      expect(processes).to.have.length(2);
      for (const info of processes) {
        expect(info.state).to.equal('ready');
        expect(info.callsTotal).to.be.greaterThan(20);
        expect(info.pid).to.be.a('number');
      }
    });
  });

  describe('a v2 plugin and a JavaScript plugin', () => {
    const context = { repoKey: 'libs', baseUrl: 'http://keeper.test/ext/demo-v2/libs', downloadBaseUrl: 'http://keeper.test/dl' };

    it('serves a native request with status, headers and body', async () => {
      const pool = await h.start('good-v2');
      const request = { method: 'GET', path: '/simple/', query: 'a=1', headers: [['accept', 'text/html']] as Array<[string, string]>, body: bytes('xyz') };
      const artifact = { path: 'a', version: '1', contentType: 'x', sizeBytes: 1, checksumSha256: null };
      const response = await pool.call(HandleRequest, { request, context, artifacts: [artifact, artifact] });
      expect(response.status).to.equal(200);
      expect(response.headers).to.deep.equal([['content-type', 'text/plain']]);
      expect(text(response.body)).to.equal('GET /simple/?a=1 repo=libs base=http://keeper.test/ext/demo-v2/libs artifacts=2 body=3');
      const missing = await pool.call(HandleRequest, { request: { ...request, path: '/missing' }, context, artifacts: [] });
      expect(missing.status).to.equal(404);
      const refused = await expectRejection(pool.call(HandleRequest, { request: { ...request, path: '/fail' }, context, artifacts: [] }), Error);
      expect(refused).to.be.instanceOf(ArtifactInvalid);
      expect(refused.message).to.equal('request refused');
    });

    it('refuses a native request to a v1 plugin as format_unavailable', async () => {
      const pool = await h.start('good');
      const request = { method: 'GET', path: '/', query: '', headers: [], body: new Uint8Array(0) };
      const error = await expectRejection(pool.call(HandleRequest, { request, context, artifacts: [] }), Error);
      expect(error).to.be.instanceOf(FormatUnavailable);
    });

    it('runs a componentize-js handler: precise validation errors, metadata, index, requests', async function () {
      this.timeout(300_000); // the first build of the JS fixture takes a while
      const pool = await h.start('js-handler');
      const doc = bytes(JSON.stringify({ name: 'left-pad', version: '1.3.0' }));
      const metadata = await pool.call(ParseMetadata, { path: 'left-pad-1.3.0.json', data: doc });
      expect(metadata).to.include({ version: '1.3.0', contentType: 'application/json', sizeBytes: doc.byteLength });
      const bad = await expectRejection(pool.call(Validate, { path: 'x.json', data: bytes('{"name":"x","version":"one"}') }), Error);
      expect(bad).to.be.instanceOf(ArtifactInvalid);
      expect(bad.message).to.equal('bad version: "one" is not a semantic version');
      const index = await pool.call(GenerateIndex, { artifacts: [metadata] });
      expect(JSON.parse(text(index![0]!.content))).to.deep.equal([{ path: 'left-pad-1.3.0.json', version: '1.3.0', size: doc.byteLength }]);
      const request = { method: 'GET', path: '/index.json', query: '', headers: [], body: new Uint8Array(0) };
      const response = await pool.call(HandleRequest, { request, context, artifacts: [metadata] });
      expect(response.status).to.equal(200);
      expect(JSON.parse(text(response.body))).to.have.length(1);
    });
  });

  describe('limits', () => {
    it('kills a call that runs past its time limit, names the limit, and the next call works', async () => {
      const pool = await h.start('loop', { timeoutMs: 800 });
      const [pid] = pool.pids();
      const started = Date.now();
      const error = await expectRejection(pool.call(ParseMetadata, { path: 'x', data: bytes('x') }), Error);
      expect(error).to.be.instanceOf(PluginTimeout);
      expect(error).to.have.property('code', 'plugin_timeout');
      expect(error.message).to.contain('800 ms');
      expect(Date.now() - started).to.be.within(700, 4000);
      expect(isAlive(pid!)).to.equal(false);

      expect(await pool.call(FormatKey)).to.equal('loop');
      expect(pool.pids()[0]).to.not.equal(pid);
      expect(h.events.map((e) => e.type)).to.include('limit_exceeded');
    });

    it('retries the calls queued behind a timed-out call on a fresh child', async () => {
      const pool = await h.start('loop', { timeoutMs: 800 });
      const looping = expectRejection(pool.call(ParseMetadata, { path: 'x', data: bytes('x') }), Error);
      const queued = Array.from({ length: 5 }, () => pool.call(FormatKey));
      expect(await looping).to.be.instanceOf(PluginTimeout);
      expect(await Promise.all(queued)).to.deep.equal(Array(5).fill('loop'));
    });

    it('stops a guest that grows its memory past the cap, and the next call works', async () => {
      const pool = await h.start('memory-bomb', { memoryMb: 32 });
      const error = await expectRejection(pool.call(ParseMetadata, { path: 'x', data: bytes('x') }), Error);
      expect(error).to.be.instanceOf(PluginMemoryExceeded);
      expect(error).to.have.property('code', 'plugin_memory_exceeded');
      expect(error.message).to.contain('32 MB');

      const viaErr = await expectRejection(pool.call(Validate, { path: 'x', data: bytes('x') }), Error);
      expect(viaErr).to.be.instanceOf(PluginMemoryExceeded);
      expect(await pool.call(FormatKey)).to.equal('bomb');
      const hits = h.events.filter((e) => e.type === 'limit_exceeded' && e.reason === 'memory');
      expect(hits).to.have.length(2);
      expect(hits.every((e) => e.inCall === true)).to.equal(true);
    });

    it('the same guest completes when its limit allows 100 MiB', async () => {
      const pool = await h.start('memory-bomb', { memoryMb: 128 });
      const metadata = await pool.call(ParseMetadata, { path: 'x', data: bytes('x') });
      expect(metadata.path).to.equal('x');
    });

    it('caps tables: a guest growing a table a million elements at a time is refused at once, its process small', async () => {
      const pool = await h.start('table-bomb', { memoryMb: 64 });
      const [pid] = pool.pids();
      const error = await expectRejection(pool.call(ParseMetadata, { path: 'x', data: bytes('x') }), Error);
      expect(error).to.be.instanceOf(PluginCrashed);
      expect(error.message).to.contain('unreachable');
      expect(await pool.call(Validate, { path: 'x', data: bytes('x') })).to.equal(null); // grows 5,000: allowed
      const stats = await pool.call(Stats);
      expect(stats.rssBytes, 'child RSS').to.be.below(160 * 1024 * 1024);
      expect(pool.pids()).to.deep.equal([pid]);
      expect(h.events.some((e) => e.type === 'limit_exceeded')).to.equal(false);
    });

    it('samples a child from spawn: one over its RSS limit while loading fails to start, naming the limit', async () => {
      h = new Harness(dir, { hostAllowanceMb: 1, monitorIntervalMs: 10 });
      const error = await expectRejection(h.start('good', { memoryMb: 1 }), PluginStartFailed);
      expect(error.message).to.contain('memory limit of 1 MB plus the host allowance of 1 MB');
    });

    it('replaces a child whose RSS goes past the limit plus the host allowance', async () => {
      h = new Harness(dir, { hostAllowanceMb: 1, monitorIntervalMs: 100 });
      // 128 MB + 1 MB: a fresh child (~50 MB) starts; growing its linear memory to 100 MiB,
      // page by page for over a second, takes the process past it.
      const pool = await h.start('memory-bomb', { timeoutMs: 20_000, memoryMb: 128 });
      const error = await expectRejection(pool.call(ParseMetadata, { path: 'x', data: bytes('x') }), Error);
      expect(error).to.be.instanceOf(PluginMemoryExceeded);
      expect(error.message).to.contain('memory limit of 128 MB plus the host allowance of 1 MB');
      expect(h.events.some((e) => e.type === 'limit_exceeded' && e.reason === 'memory')).to.equal(true);
    });
  });

  describe('crashes', () => {
    it('throws a trapped instance away: the next call runs on a fresh one', async () => {
      const pool = await h.start('trap');
      const call = (data: string) => pool.call(ParseMetadata, { path: 'x', data: bytes(data) });
      expect((await call('a')).version).to.equal('1');
      expect((await call('b')).version).to.equal('2');
      const error = await expectRejection(call('TRAP'), Error);
      expect(error).to.be.instanceOf(PluginCrashed);
      expect(error).to.have.property('code', 'plugin_crashed');
      expect((await call('c')).version).to.equal('1');
      const stats = await pool.call(Stats);
      expect(stats.instantiations).to.equal(2);
      expect(h.events.some((e) => e.type === 'crashed' && e.reason === 'trap')).to.equal(true);
    });

    it('fails the running call with plugin_crashed when the process dies, and restarts it', async () => {
      const pool = await h.start('loop', { timeoutMs: 20_000 });
      const [pid] = pool.pids();
      const running = expectRejection(pool.call(ParseMetadata, { path: 'x', data: bytes('x') }), Error);
      await new Promise((resolve) => setTimeout(resolve, 200));
      process.kill(pid!, 'SIGKILL');
      const error = await running;
      expect(error).to.be.instanceOf(PluginCrashed);
      expect(await pool.call(FormatKey)).to.equal('loop');
      const [info] = await pool.processes();
      expect(info!.restarts).to.equal(1);
      expect(info!.lastExit).to.include({ signal: 'SIGKILL' });
      expect(h.events.map((e) => e.type)).to.include.members(['crashed', 'restarted']);
    });

    it('replaces a child that stops acknowledging requests, and the call still succeeds', async () => {
      h = new Harness(dir, { ackTimeoutMs: 500 });
      const pool = await h.start('good');
      const [pid] = pool.pids();
      process.kill(pid!, 'SIGSTOP');
      expect(await pool.call(FormatKey)).to.equal('demo');
      expect(pool.pids()[0]).to.not.equal(pid);
      expect(h.events.some((e) => e.type === 'crashed' && e.reason === 'unresponsive')).to.equal(true);
    });

    it('does not mistake a long call for a hung child: calls queued behind it are acknowledged and served', async () => {
      h = new Harness(dir, { ackTimeoutMs: 300 });
      // Growing to 100 MiB page by page takes over a second: far longer than the ack timeout.
      const pool = await h.start('memory-bomb', { memoryMb: 128, timeoutMs: 20_000 });
      const [pid] = pool.pids();
      const long = pool.call(ParseMetadata, { path: 'x', data: bytes('x') });
      const queued = Array.from({ length: 5 }, () => pool.call(FormatKey));
      expect((await long).path).to.equal('x');
      expect(await Promise.all(queued)).to.deep.equal(Array(5).fill('bomb'));
      expect(pool.pids()).to.deep.equal([pid]);
      expect(h.events).to.deep.equal([]);
    });

    it('never quarantines for traps inside calls: each goes to its caller and to the events', async () => {
      const pool = await h.start('trap');
      for (let i = 0; i < 12; i++) {
        expect(await expectRejection(pool.call(ParseMetadata, { path: 'x', data: bytes('TRAP') }), Error)).to.be.instanceOf(PluginCrashed);
      }
      expect(pool.state).to.equal('running');
      expect((await pool.call(ParseMetadata, { path: 'x', data: bytes('ok') })).version).to.equal('1');
      const traps = h.events.filter((e) => e.type === 'crashed' && e.reason === 'trap');
      expect(traps).to.have.length(12);
      expect(traps.every((e) => e.inCall === true)).to.equal(true);
      expect(h.events.map((e) => e.type)).to.not.include('quarantined');
    });

    it('never quarantines for process deaths inside calls', async () => {
      const pool = await h.start('loop', { timeoutMs: 20_000 });
      let pid: number | undefined;
      for (let i = 0; i < 6; i++) {
        pid = await readyPid(pool, pid);
        const running = expectRejection(pool.call(ParseMetadata, { path: 'x', data: bytes('x') }), Error);
        await sleep(150); // acknowledged and looping
        process.kill(pid, 'SIGKILL');
        expect(await running).to.be.instanceOf(PluginCrashed);
      }
      expect(pool.state).to.equal('running');
      expect(await pool.call(FormatKey)).to.equal('loop');
      const deaths = h.events.filter((e) => e.type === 'crashed');
      expect(deaths).to.have.length(6);
      expect(deaths.every((e) => e.inCall === true && e.message.includes('not counted toward quarantine'))).to.equal(true);
    });

    it('backs off respawns after in-call failures, so a client cannot make it spawn without bound', async () => {
      h = new Harness(dir, { backoff: { initialMs: 50, maxMs: 1000 } });
      const pool = await h.start('loop', { timeoutMs: 100 });
      const until = Date.now() + 4000;
      let timeouts = 0;
      while (Date.now() < until) {
        expect(await expectRejection(pool.call(ParseMetadata, { path: 'x', data: bytes('x') }), Error)).to.be.instanceOf(PluginTimeout);
        timeouts++;
      }
      // Delays 50, 100, 200, 400, 800, 1000, 1000 ms: at most 7 respawns in 4 s (without the
      // backoff a 100 ms timeout and a ~80 ms spawn make about 20).
      expect(pool.restarts).to.be.within(3, 8);
      expect(timeouts).to.equal(pool.restarts + 1);
      expect(pool.state).to.equal('running');
      expect(h.events.filter((e) => e.type === 'limit_exceeded').every((e) => e.inCall === true)).to.equal(true);
    });

    it('quarantines after 5 process deaths outside calls, then a new pool serves again', async () => {
      const pool = await h.start('good');
      let pid: number | undefined;
      for (let i = 0; i < 5; i++) {
        pid = await readyPid(pool, pid);
        process.kill(pid, 'SIGKILL');
      }
      await waitUntil(() => pool.state === 'quarantined');
      expect(pool.quarantineReason).to.contain('5 crashes outside calls');
      const refused = await expectRejection(pool.call(FormatKey), Error);
      expect(refused).to.be.instanceOf(FormatUnavailable);
      expect(refused.message).to.contain('quarantined');
      expect(h.events.map((e) => e.type)).to.include('quarantined');
      expect(h.events.filter((e) => e.type === 'crashed').every((e) => e.inCall === false)).to.equal(true);

      const again = await h.start('good');
      expect(await again.call(FormatKey)).to.equal('demo');
    });

    it('keeps a second plugin answering while the first loops, bombs and crash-loops', async () => {
      const healthy = await h.start('good');
      const looping = await h.start('loop', { timeoutMs: 500 });
      const bomb = await h.start('memory-bomb', { memoryMb: 16 });
      const trap = await h.start('trap');
      const trouble = Promise.allSettled([
        ...Array.from({ length: 3 }, () => looping.call(ParseMetadata, { path: 'x', data: bytes('x') })),
        ...Array.from({ length: 3 }, () => bomb.call(ParseMetadata, { path: 'x', data: bytes('x') })),
        ...Array.from({ length: 6 }, () => trap.call(ParseMetadata, { path: 'x', data: bytes('TRAP') })),
      ]);
      const data = bytes('DEMO healthy');
      for (let i = 0; i < 200; i++) {
        const metadata = await healthy.call(ParseMetadata, { path: `p${i}`, data });
        expect(metadata.version).to.equal(String(byteSum(data)));
      }
      const outcomes = await trouble;
      expect(outcomes.every((o) => o.status === 'rejected')).to.equal(true);
      expect(healthy.state).to.equal('running');
    });
  });

  describe('plugin output', () => {
    it('a guest printing 50 MiB without a newline costs the supervisor one cut line, in bounded memory', async () => {
      const flood = await stdoutLoggerComponent('x'.repeat(4096), 12_800);
      await h.runtime.prepare(flood); // transpiled (in a worker of this process) before measuring
      const rssBefore = process.memoryUsage().rss;
      const pool = await h.start(flood, { timeoutMs: 20_000 }); // format-key floods once at start...
      expect(await pool.call(FormatKey)).to.equal('logger'); // ...and once more here
      await waitUntil(() => h.logs.length >= 2);
      const rssGrowth = process.memoryUsage().rss - rssBefore;
      const line = `[plugin stdout] ${'x'.repeat(MAX_LOG_LINE_BYTES - '[plugin stdout] '.length)}${LINE_CUT_MARKER}`;
      expect(h.logs).to.deep.equal([line, line]);
      expect(rssGrowth, 'supervisor RSS growth (bytes)').to.be.below(64 * 1024 * 1024);
    });
  });

  describe('huge results', () => {
    it('carries a 40 MiB index file intact', async () => {
      const pool = await h.start('huge-result', { memoryMb: 128 });
      const index = await pool.call(GenerateIndex, { artifacts: [] });
      const content = index![0]!.content;
      expect(index![0]!.path).to.equal('big.bin');
      expect(content.byteLength).to.equal(40 * 1024 * 1024);
      for (const i of [0, 1, 250, 251, 1_000_003, content.byteLength - 1]) expect(content[i]).to.equal(i % 251);
    });

    it('fails a result that points outside the guest memory as plugin_crashed; the next call works', async () => {
      const pool = await h.start('huge-result');
      const error = await expectRejection(pool.call(ParseMetadata, { path: 'x', data: bytes('x') }), Error);
      expect(error).to.be.instanceOf(PluginCrashed);
      expect(await pool.call(FormatKey)).to.equal('huge');
    });
  });

  describe('drain', () => {
    it('finishes calls in flight, then stops its processes and refuses new calls', async () => {
      const pool = await h.start('good');
      const [pid] = pool.pids();
      const data = bytes('DEMO drain');
      const inFlight = Array.from({ length: 50 }, () => pool.call(ParseMetadata, { path: 'p', data }));
      const drained = pool.drain();
      const results = await Promise.all(inFlight);
      expect(results).to.have.length(50);
      await drained;
      expect(pool.state).to.equal('stopped');
      expect(isAlive(pid!)).to.equal(false);
      expect(await expectRejection(pool.call(FormatKey), Error)).to.be.instanceOf(FormatUnavailable);
    });
  });
});
