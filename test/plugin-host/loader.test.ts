import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GuestError,
  GuestTrap,
  type LoadedPlugin,
  loadPlugin,
  MemoryLimitExceeded,
  NotSupported,
} from '../../plugin-host/loader.js';
import { LINE_CUT_MARKER, MAX_LOG_LINE_BYTES } from '../../protocol/log-lines.js';
import type { ArtifactMetadata, HttpRequest, RepoContext } from '../../protocol/methods.js';
import { transpileToCache } from '../../supervisor/runtime/component.js';
import { type FixtureName, fixtureWasm } from '../support/fixtures.js';
import { stdoutLoggerComponent } from '../support/stdout-logger.js';

const MiB = 1024 * 1024;
const text = (s: string) => new TextEncoder().encode(s);
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

type LogEntry = ['stdout' | 'stderr', string];

/** The repository context generate-index is given (1.0.0 guests do not see it). */
const CONTEXT: RepoContext = { repoKey: 'r', baseUrl: 'http://x/ext/demo/r', downloadBaseUrl: 'http://x/api/v1/repositories/r/artifacts' };

describe('plugin host loader', () => {
  let cacheDir: string;
  before(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'plugin-keeper-loader-'));
  });
  after(async () => {
    await rm(cacheDir, { recursive: true, force: true });
  });

  async function load(
    component: FixtureName | Uint8Array,
    { memoryLimitBytes = 64 * MiB, logs = [] as LogEntry[] } = {},
  ): Promise<LoadedPlugin> {
    const bytes = typeof component === 'string' ? await fixtureWasm(component) : component;
    const { entry } = await transpileToCache(bytes, cacheDir);
    return loadPlugin({ entry, memoryLimitBytes, log: (stream, chunk) => logs.push([stream, chunk]) });
  }

  /** The rejection of `promise`, which must reject. */
  async function rejection(promise: Promise<unknown>): Promise<Error> {
    try {
      await promise;
    } catch (error) {
      expect(error).to.be.instanceOf(Error);
      return error as Error;
    }
    return expect.fail('expected the call to fail');
  }

  describe('a well-behaved v1 handler', () => {
    let plugin: LoadedPlugin;
    before(async () => {
      plugin = await load('good');
    });

    it('answers every handler function, converting metadata both ways', async () => {
      expect(plugin.handlesRequests).to.equal(false);
      expect(await plugin.formatKey()).to.equal('demo');

      const data = text('DEMO-payload');
      const byteSum = data.reduce((sum, b) => sum + b, 0);
      expect(await plugin.parseMetadata('pkg/a.demo', { data: data })).to.deep.equal({
        path: 'pkg/a.demo',
        version: String(byteSum),
        contentType: 'application/x-demo',
        sizeBytes: data.length,
        checksumSha256: null,
      });

      await plugin.validate('pkg/a.demo', { data: data });
      expect(await plugin.generateIndex([], CONTEXT)).to.equal(null);
      const artifacts: ArtifactMetadata[] = [
        { path: 'a.demo', version: '7', contentType: 'application/x-demo', sizeBytes: 3, checksumSha256: null },
        { path: 'b.demo', version: null, contentType: 'application/x-demo', sizeBytes: 5, checksumSha256: 'ab' },
      ];
      const index = await plugin.generateIndex(artifacts, CONTEXT);
      expect(index?.map((file) => [file.path, decode(file.content)])).to.deep.equal([['index.txt', 'a.demo 7 3\nb.demo - 5\n']]);
    });

    it("turns a guest err into a GuestError with the guest's own message, keeping the instance", async () => {
      const before = plugin.instantiations;
      const empty = await rejection(plugin.validate('a.demo', { data: new Uint8Array(0) }));
      expect(empty).to.be.instanceOf(GuestError);
      expect(empty.message).to.equal('empty artifact');
      const badMagic = await rejection(plugin.validate('a.demo', { data: text('NOPE') }));
      expect(badMagic).to.be.instanceOf(GuestError);
      expect(badMagic.message).to.equal('bad magic: expected DEMO');
      expect(plugin.instantiations).to.equal(before, 'an err result is not a reason to re-instantiate');
    });

    it('refuses handleRequest on a v1 component with NotSupported', async () => {
      const request: HttpRequest = { method: 'GET', path: '/', query: '', headers: [], body: new Uint8Array(0) };
      const context: RepoContext = { repoKey: 'r', baseUrl: 'http://x/r', downloadBaseUrl: 'http://x/r/dl' };
      const error = await rejection(plugin.handleRequest(request, context, []));
      expect(error).to.be.instanceOf(NotSupported);
      expect(error.message).to.contain('artifact-keeper:format/request-handler@1.0.0');
    });

    it('reports the linear memory in use', () => {
      expect(plugin.wasmMemoryBytes()).to.be.greaterThan(0);
      expect(plugin.wasmMemoryBytes() % 65536).to.equal(0);
    });
  });

  describe('a v2 handler', () => {
    it('handles requests and maps their err to GuestError', async () => {
      const plugin = await load('good-v2');
      expect(plugin.handlesRequests).to.equal(true);
      const context: RepoContext = { repoKey: 'main', baseUrl: 'http://keeper/main', downloadBaseUrl: 'http://keeper/dl' };
      const artifacts: ArtifactMetadata[] = [
        { path: 'a.demo', version: '1', contentType: 'application/x-demo', sizeBytes: 1, checksumSha256: null },
      ];
      const response = await plugin.handleRequest(
        { method: 'POST', path: '/x', query: 'q=1', headers: [['accept', '*/*']], body: text('hello') },
        context,
        artifacts,
      );
      expect(response.status).to.equal(200);
      expect(response.headers).to.deep.equal([['content-type', 'text/plain']]);
      expect(decode(response.body)).to.equal('POST /x?q=1 repo=main base=http://keeper/main artifacts=1 body=5');

      const refused = await rejection(
        plugin.handleRequest({ method: 'GET', path: '/fail', query: '', headers: [], body: new Uint8Array(0) }, context, []),
      );
      expect(refused).to.be.instanceOf(GuestError);
      expect(refused.message).to.equal('request refused');
    });
  });

  describe('memory limit', () => {
    it('fails a guest that aborts at the cap with MemoryLimitExceeded, and the next call works', async () => {
      const plugin = await load('memory-bomb', { memoryLimitBytes: 16 * MiB });
      expect(plugin.instantiations).to.equal(1);

      const error = await rejection(plugin.parseMetadata('big.bin', { data: text('x') }));
      expect(error).to.be.instanceOf(MemoryLimitExceeded);
      expect((error as MemoryLimitExceeded).limitBytes).to.equal(16 * MiB);
      expect(error.message).to.contain('16 MiB');

      expect(plugin.instantiations).to.equal(2, 'the instance that hit the cap was replaced');
      expect(await plugin.formatKey()).to.equal('bomb');
      expect(plugin.wasmMemoryBytes()).to.be.lessThan(16 * MiB, 'the fresh instance starts small again');
    });

    it("fails a guest that reports its failed grow as err with MemoryLimitExceeded quoting the guest's error", async () => {
      const plugin = await load('memory-bomb', { memoryLimitBytes: 16 * MiB });
      const error = await rejection(plugin.validate('big.bin', { data: text('x') }));
      expect(error).to.be.instanceOf(MemoryLimitExceeded);
      expect((error as MemoryLimitExceeded).limitBytes).to.equal(16 * MiB);
      expect(error.message).to.contain('out of memory');
      expect(await plugin.formatKey()).to.equal('bomb');
    });

    it('fails a guest whose one large allocation fails far below the cap with MemoryLimitExceeded', async () => {
      const plugin = await load('memory-bomb', { memoryLimitBytes: 16 * MiB });
      const error = await rejection(plugin.validate('big.bin', { data: text('B') }));
      expect(error).to.be.instanceOf(MemoryLimitExceeded);
      expect(error.message).to.match(/ran out of memory under its limit of 16 MiB.*"out of memory"/);
      expect(plugin.instantiations).to.equal(2, 'the instance that ran out of memory was replaced');
      // With room for it, the same allocation succeeds.
      const roomy = await load('memory-bomb', { memoryLimitBytes: 128 * MiB });
      await roomy.validate('big.bin', { data: text('B') });
      expect(roomy.wasmMemoryBytes()).to.be.at.least(100 * MiB);
    });

    it('fails a guest that traps after a refused grow, a growth step below the cap, with MemoryLimitExceeded', async () => {
      // 16 MiB steps: 48 MiB reached, the next step refused, `unreachable` with 16 MiB unused.
      const plugin = await load('chunked-grow', { memoryLimitBytes: 64 * MiB });
      const error = await rejection(plugin.parseMetadata('big.bin', { data: text('x') }));
      expect(error).to.be.instanceOf(MemoryLimitExceeded);
      expect(error.message).to.contain('64 MiB').and.contain('unreachable');
      expect(plugin.instantiations).to.equal(2);
      expect(await plugin.formatKey()).to.equal('chunked');
    });

    it('still calls a trap far from the cap a trap', async () => {
      const plugin = await load('trap', { memoryLimitBytes: 64 * MiB });
      expect(await rejection(plugin.parseMetadata('a.bin', { data: text('TRAP') }))).to.be.instanceOf(GuestTrap);
    });

    it('lets the same guest finish when the limit is high enough', async () => {
      const plugin = await load('memory-bomb', { memoryLimitBytes: 128 * MiB });
      const metadata = await plugin.parseMetadata('big.bin', { data: text('x') });
      expect(metadata.contentType).to.equal('application/octet-stream');
      expect(plugin.wasmMemoryBytes()).to.be.at.least(100 * MiB);
    });

    it('refuses to load a component whose initial memory exceeds the limit', async () => {
      const error = await rejection(load('big-initial-memory', { memoryLimitBytes: 64 * MiB }));
      expect(error).to.be.instanceOf(MemoryLimitExceeded);
      expect(error.message).to.contain('64 MiB');
      const roomy = await load('big-initial-memory', { memoryLimitBytes: 256 * MiB });
      expect(await roomy.formatKey()).to.equal('big-mem');
    });
  });

  describe('traps', () => {
    it('replaces a trapped instance: the guest counter starts again at 1', async () => {
      const plugin = await load('trap');
      const version = async () => (await plugin.parseMetadata('a.bin', { data: text('data') })).version;
      expect([await version(), await version()]).to.deep.equal(['1', '2']);

      const error = await rejection(plugin.parseMetadata('a.bin', { data: text('TRAP') }));
      expect(error).to.be.instanceOf(GuestTrap);
      expect(error.message).to.contain('unreachable');
      expect(plugin.instantiations).to.equal(2);

      expect(await version()).to.equal('1', 'a fresh instance, not the wrecked one');
    });

    it('never runs a call queued behind a trapping call on the trapped instance', async () => {
      const plugin = await load('trap');
      const [trapped, next] = await Promise.allSettled([
        plugin.parseMetadata('a.bin', { data: text('TRAP') }),
        plugin.parseMetadata('a.bin', { data: text('data') }),
      ]);
      expect(trapped.status).to.equal('rejected');
      expect(next).to.deep.include({ status: 'fulfilled' });
      expect((next as PromiseFulfilledResult<ArtifactMetadata>).value.version).to.equal('1');
    });

    it('treats a result the host cannot lift as a trap and recovers', async () => {
      const plugin = await load('huge-result');
      const error = await rejection(plugin.parseMetadata('a.bin', { data: text('x') }));
      expect(error).to.be.instanceOf(GuestTrap);
      expect(plugin.instantiations).to.equal(2);
      await plugin.validate('a.bin', { data: text('x') });
    });
  });

  describe('WASI', () => {
    it('runs the JavaScript handler through the host WASI imports', async () => {
      const plugin = await load('js-handler');
      expect(await plugin.formatKey()).to.equal('json-pkg');
      const descriptor = text(JSON.stringify({ name: 'left-pad', version: '1.3.0' }));
      expect(await plugin.parseMetadata('left-pad.json', { data: descriptor })).to.deep.equal({
        path: 'left-pad.json',
        version: '1.3.0',
        contentType: 'application/json',
        sizeBytes: descriptor.length,
        checksumSha256: null,
      });
      const error = await rejection(plugin.validate('x.json', { data: text('{"name": "x"}') }));
      expect(error).to.be.instanceOf(GuestError);
      expect(error.message).to.equal('missing version');
    });

    it("sends the guest's stdout to the log, a line at a time, never to process.stdout", async () => {
      const logs: LogEntry[] = [];
      const plugin = await load(await stdoutLoggerComponent(), { logs });
      const written: unknown[] = [];
      const realWrite = process.stdout.write;
      process.stdout.write = ((chunk: unknown) => written.push(chunk) > 0) as typeof process.stdout.write;
      try {
        expect(await plugin.formatKey()).to.equal('logger');
        expect(await plugin.formatKey()).to.equal('logger');
      } finally {
        process.stdout.write = realWrite;
      }
      expect(logs).to.deep.equal([
        ['stdout', 'hello from the guest\n'],
        ['stdout', 'hello from the guest\n'],
      ]);
      expect(written).to.deep.equal([]);
    });

    it('cuts a guest line at 8 KiB: 50 MiB without a newline is one cut line', async () => {
      const logs: LogEntry[] = [];
      const plugin = await load(await stdoutLoggerComponent('x'.repeat(4096), 12_800), { logs });
      expect(await plugin.formatKey()).to.equal('logger');
      expect(logs).to.deep.equal([['stdout', `${'x'.repeat(MAX_LOG_LINE_BYTES)}${LINE_CUT_MARKER}\n`]]);
    });
  });
});
