// The wasm-module example plugin (examples/wasm-module, AssemblyScript with a hand-written
// canonical ABI) in the real runtime, on real core modules and components.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { watToCore } from '../../cli/component-build.js';
import { FormatKey, GenerateIndex, ParseMetadata, Validate, type ArtifactMetadata } from '../../protocol/methods.js';
import { fixtureWasm, repoRoot } from '../support/fixtures.js';
import { rejection, startExample, type RunningExample } from './support.js';

/** The 8-byte preamble of a core module, then whatever sections a case needs. */
const coreModule = (...sections: number[]) => Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...sections);

describe('example plugin wasm-module (AssemblyScript, real runtime)', function () {
  this.timeout(180_000);
  let plugin: RunningExample;

  before(async () => {
    plugin = await startExample('wasm-module');
    console.log(`      wasm-module component: ${plugin.size} bytes`);
  });
  after(async () => {
    await plugin?.stop();
  });

  it('serves format key "wasm-module"', async () => {
    expect(await plugin.pool.call(FormatKey)).to.equal('wasm-module');
  });

  it('accepts core modules and components, its own included', async () => {
    const good = await readFile(path.join(repoRoot, 'test/fixtures/good.wat'), 'utf8');
    const binaries: Array<[string, Uint8Array]> = [
      ['an empty module', coreModule()],
      ['a core module', await watToCore('good.wat', good)],
      ['a component', await fixtureWasm('good')],
      ['this plugin', await fixtureWasm('wasm-module')],
    ];
    for (const [what, data] of binaries) expect(await plugin.pool.call(Validate, { path: 'x.wasm', data }), what).to.equal(null);
  });

  it('takes the version from the file name, when there is one', async () => {
    const data = coreModule();
    expect(await plugin.pool.call(ParseMetadata, { path: 'filters/json-2-1.2.3-rc.1.wasm', data })).to.deep.equal({
      path: 'filters/json-2-1.2.3-rc.1.wasm',
      version: '1.2.3-rc.1',
      contentType: 'application/wasm',
      sizeBytes: 8,
      checksumSha256: null,
    });
    for (const unversioned of ['filters/json.wasm', 'json-2.wasm', 'json-1.2-.wasm', 'json-1.2.3.bin']) {
      expect(await plugin.pool.call(ParseMetadata, { path: unversioned, data }), unversioned).to.include({ version: null });
    }
  });

  it('rejects broken binaries, saying where', async () => {
    const cases: Array<[Uint8Array, string]> = [
      [new TextEncoder().encode('hello'), 'not a WebAssembly binary: it does not start with the magic bytes 00 61 73 6d ("\\0asm")'],
      [coreModule().subarray(0, 5), 'the WebAssembly preamble is cut off: the file has 5 of its 8 bytes'],
      [Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00), 'unknown WebAssembly version 0x2: neither a core module (1) nor a component (0x1000d)'],
      [coreModule(0x01), 'the section header at byte 8 is cut off'],
      [coreModule(0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00), 'the section header at byte 8 has a malformed size'],
      [coreModule(0x0e, 0x00), 'byte 8 starts a section with id 14, which a WebAssembly module does not have'],
      [coreModule(0x0a, 0x64, 0x00), 'the code section at byte 8 claims 100 bytes, but only 1 follow'],
      [coreModule(0x01, 0x01, 0x00, 0x01, 0x01, 0x00), 'the type section appears twice, the second time at byte 11'],
      [coreModule(0x00, 0x02, 0x05, 0x61), 'the custom section at byte 8 has a name longer than the section'],
    ];
    for (const [data, message] of cases) expect(await rejection(plugin.pool, 'x.wasm', data)).to.equal(message);
    // A real component, cut short.
    const component = await fixtureWasm('good');
    expect(await rejection(plugin.pool, 'x.wasm', component.subarray(0, 200))).to.match(/^the [a-z ]+ section at byte \d+ claims \d+ bytes, but only \d+ follow$/);
  });

  it('indexes the artifacts as a SHA256SUMS file that sha256sum -c accepts', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pk-wasm-sums-'));
    try {
      const files: Record<string, Uint8Array> = { 'a.wasm': coreModule(), 'filters/json-1.0.0.wasm': await fixtureWasm('good') };
      const artifacts: ArtifactMetadata[] = [];
      for (const [name, data] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
        await writeFile(path.join(dir, name), data);
        const checksum = createHash('sha256').update(data).digest('hex');
        artifacts.push({ path: name, version: null, contentType: 'application/wasm', sizeBytes: data.byteLength, checksumSha256: checksum });
      }
      // An artifact without a checksum is left out.
      artifacts.push({ path: 'b.wasm', version: null, contentType: 'application/wasm', sizeBytes: 8, checksumSha256: null });

      const index = await plugin.pool.call(GenerateIndex, { artifacts });
      expect(index!.map((file) => file.path)).to.deep.equal(['SHA256SUMS']);
      const sums = Buffer.from(index![0]!.content).toString('utf8');
      expect(sums).to.equal(`${artifacts[0]!.checksumSha256}  a.wasm\n${artifacts[1]!.checksumSha256}  filters/json-1.0.0.wasm\n`);
      await writeFile(path.join(dir, 'SHA256SUMS'), index![0]!.content);
      const check = spawnSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir, encoding: 'utf8' });
      expect(check.status, check.stderr).to.equal(0);
      expect(check.stdout).to.equal('a.wasm: OK\nfilters/json-1.0.0.wasm: OK\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('escapes file names as sha256sum does', async () => {
    const checksum = 'c'.repeat(64);
    const artifact = (name: string): ArtifactMetadata => ({ path: name, version: null, contentType: 'application/wasm', sizeBytes: 8, checksumSha256: checksum });
    const index = await plugin.pool.call(GenerateIndex, { artifacts: [artifact('a\\b.wasm'), artifact('two\nlines.wasm')] });
    expect(Buffer.from(index![0]!.content).toString('utf8')).to.equal(`\\${checksum}  a\\\\b.wasm\n\\${checksum}  two\\nlines.wasm\n`);
    const empty = await plugin.pool.call(GenerateIndex, { artifacts: [] });
    expect(empty!.map((file) => [file.path, file.content.byteLength])).to.deep.equal([['SHA256SUMS', 0]]);
  });
});
