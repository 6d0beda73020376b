// The 1.1.0 `artifact` resource as the plugin host implements it, driven by a real WAT
// component (test/fixtures/stream.wat) in this process: positional reads of a real file,
// the guest's memory flat however large the artifact, and each misuse a clean error.
import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactMisuse } from '../../plugin-host/artifact.js';
import { GuestError, type LoadedPlugin, loadPlugin, MemoryLimitExceeded } from '../../plugin-host/loader.js';
import type { RepoContext } from '../../protocol/methods.js';
import { transpileToCache } from '../../supervisor/runtime/component.js';
import { fixtureWasm } from '../support/fixtures.js';

const MiB = 1024 * 1024;
const CONTEXT: RepoContext = {
  repoKey: 'r',
  baseUrl: 'https://repo.example/ext/stream/r',
  downloadBaseUrl: 'https://repo.example/api/v1/repositories/r/artifacts',
};

describe('plugin host: the 1.1.0 artifact resource', () => {
  let dir: string;
  let plugin: LoadedPlugin;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'plugin-keeper-artifact-'));
    plugin = await load();
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function load(memoryLimitBytes = 64 * MiB): Promise<LoadedPlugin> {
    const { entry } = await transpileToCache(await fixtureWasm('stream'), join(dir, 'cache'));
    return loadPlugin({ entry, memoryLimitBytes, log: () => undefined });
  }

  /** A staged file: "DEMO" then `size - 4` bytes of value 1 (so the byte sum is easy to know). */
  async function artifactFile(name: string, size: number, magic = 'DEMO'): Promise<string> {
    const file = join(dir, name);
    const bytes = Buffer.alloc(size, 1);
    bytes.write(magic.slice(0, size), 0, 'latin1');
    await writeFile(file, bytes);
    return file;
  }

  const sumOf = (size: number, magic = 'DEMO') => [...Buffer.from(magic)].reduce((a, b) => a + b, 0) + (size - 4);

  async function rejection(promise: Promise<unknown>): Promise<Error> {
    try {
      await promise;
    } catch (error) {
      return error as Error;
    }
    return expect.fail('expected the call to fail');
  }

  it('is told apart from a 1.0.0 component by its exports', async () => {
    expect(plugin.interfaceVersion).to.equal('1.1.0');
    expect(plugin.handlesRequests).to.equal(false);
    expect(await plugin.formatKey()).to.equal('stream');
  });

  it('validates from the header alone and reports the guest err', async () => {
    await plugin.validate('a.demo', { file: await artifactFile('ok.demo', 3 * MiB) });
    const bad = await rejection(plugin.validate('a.demo', { file: await artifactFile('bad.demo', 100, 'NOPE') }));
    expect(bad).to.be.instanceOf(GuestError);
    expect(bad.message).to.equal('bad magic: expected DEMO');
    const short = await rejection(plugin.validate('a.demo', { data: new Uint8Array([0x44, 0x45]) }));
    expect(short.message).to.equal('too short');
  });

  it('parses a file read whole in chunks, with properties in order, an empty read at the end', async () => {
    const size = 5 * MiB + 3;
    const metadata = await plugin.parseMetadata('pkg/a.sum', { file: await artifactFile('a.sum', size) });
    expect(metadata).to.deep.equal({
      path: 'pkg/a.sum',
      version: String(sumOf(size)),
      contentType: 'application/x-demo',
      sizeBytes: size,
      checksumSha256: null,
      properties: [
        ['magic', 'DEMO'],
        ['size', String(size)],
        ['past-end', '0'],
      ],
    });
  });

  it('keeps the guest memory flat however large the artifact (1 MiB reads, reused)', async () => {
    const size = 48 * MiB;
    const metadata = await plugin.parseMetadata('big.sum', { file: await artifactFile('big.sum', size) });
    expect(metadata.version).to.equal(String(sumOf(size)));
    expect(plugin.wasmMemoryBytes()).to.be.below(4 * MiB);
  });

  it('reads bytes in memory the same way as a file', async () => {
    const data = Buffer.alloc(1000, 1);
    data.write('DEMO');
    const metadata = await plugin.parseMetadata('m.sum', { data });
    expect(metadata.version).to.equal(String(sumOf(1000)));
  });

  it('hands generate-index the repository context and each artifact\'s properties', async () => {
    const index = await plugin.generateIndex(
      [
        { path: 'a.sum', version: '1', contentType: 'application/x-demo', sizeBytes: 9, checksumSha256: null, properties: [['k', 'v'], ['deps', '{"x":"^1"}']] },
        { path: 'b/c.demo', version: null, contentType: 'application/x-demo', sizeBytes: 4, checksumSha256: null },
      ],
      CONTEXT,
    );
    expect(index?.map((file) => [file.path, Buffer.from(file.content).toString()])).to.deep.equal([
      ['index.txt', `${CONTEXT.downloadBaseUrl}/a.sum k=v;deps={"x":"^1"};\n${CONTEXT.downloadBaseUrl}/b/c.demo \n`],
    ]);
    expect(await plugin.generateIndex([], CONTEXT)).to.equal(null);
  });

  it('fails a call that returns without dropping its handle, and replaces the instance', async () => {
    const before = plugin.instantiations;
    const error = await rejection(plugin.validate('keep/a.demo', { file: await artifactFile('keep.demo', 10) }));
    expect(error).to.be.instanceOf(ArtifactMisuse);
    expect(error.message).to.match(/returned without dropping the artifact handle/);
    expect(plugin.instantiations).to.equal(before + 1);
    await plugin.validate('a.demo', { file: await artifactFile('after-keep.demo', 10) });
  });

  it('fails a read through a dropped handle, and replaces the instance', async () => {
    const before = plugin.instantiations;
    const error = await rejection(plugin.parseMetadata('stale/a.demo', { file: await artifactFile('stale.demo', 10) }));
    expect(error).to.be.instanceOf(ArtifactMisuse);
    expect(error.message).to.match(/artifact\.(size|read)/);
    expect(plugin.instantiations).to.equal(before + 1);
    expect((await plugin.parseMetadata('a.demo', { file: await artifactFile('after-stale.demo', 10) })).sizeBytes).to.equal(10);
  });

  it('serves handle-request (world format-plugin-v3-http) with the context and the properties', async () => {
    const { entry } = await transpileToCache(await fixtureWasm('stream-http'), join(dir, 'cache'));
    const http = await loadPlugin({ entry, memoryLimitBytes: 16 * MiB, log: () => undefined });
    expect(http.interfaceVersion).to.equal('1.1.0');
    expect(http.handlesRequests).to.equal(true);
    const answer = await http.handleRequest(
      { method: 'GET', path: '/x', query: '', headers: [], body: new Uint8Array(0) },
      CONTEXT,
      [{ path: 'a.sum', version: null, contentType: 'application/x-demo', sizeBytes: 9, checksumSha256: null, properties: [['deps', '{"x":"^1"}']] }],
    );
    expect(answer.status).to.equal(200);
    expect(Buffer.from(answer.body).toString()).to.equal(`${CONTEXT.baseUrl} ${CONTEXT.downloadBaseUrl} {"x":"^1"}`);
  });

  it('refuses a single read larger than the memory limit before allocating it', async () => {
    const small = await load(512 * 1024);
    const error = await rejection(small.parseMetadata('a.sum', { file: await artifactFile('two.sum', 2 * MiB) }));
    expect(error).to.be.instanceOf(MemoryLimitExceeded);
    expect(error.message).to.match(/asked to read 1048576 bytes of its artifact at once.*read it in smaller ranges/);
    // A header read fits: the plugin is still usable.
    expect((await small.parseMetadata('a.demo', { file: await artifactFile('small.demo', 2 * MiB) })).sizeBytes).to.equal(2 * MiB);
  });
});
