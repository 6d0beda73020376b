// A plugin author's first half hour, end to end: scaffold a TypeScript plugin with the real
// bin, build it, test it locally, pack it, install the ZIP into a running service, make a
// repository of its format, upload an artifact, and read back its metadata and the index
// the plugin generated. Prints how long each step took.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { sqliteFixture, type EngineFixture } from '../support/engines.js';
import { tempFolder } from '../services/install/helpers.js';
import { pluginKeeper } from '../cli/helpers.js';
import { form, startE2E, type E2E } from './harness.js';

describe('author flow: scaffold → build → test → pack → install → upload', function () {
  this.timeout(240_000);
  let engine: EngineFixture;
  let e2e: E2E;
  let root: string;
  let remove: () => Promise<void>;
  const timings: Record<string, number> = {};

  const timed = async <T>(step: string, work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await work();
    } finally {
      timings[step] = Math.round(performance.now() - started);
    }
  };

  before(async function () {
    engine = sqliteFixture();
    e2e = await startE2E(engine);
    ({ dir: root, remove } = await tempFolder('author'));
  });

  after(async function () {
    await e2e?.close();
    await engine?.dispose();
    await remove?.();
    console.log(`      author flow timings (ms): ${JSON.stringify(timings)}`);
  });

  it('goes from nothing to a plugin handling uploads in a running service', async function () {
    const created = await timed('scaffold', () => pluginKeeper(['new', 'ticket-format', '--format-key', 'ticket', '--dir', root]));
    expect(created.exitCode, created.stderr).to.equal(0);
    const dir = path.join(root, 'ticket-format');

    const built = await timed('build', () => pluginKeeper(['build', dir]));
    expect(built.exitCode, built.stderr).to.equal(0);

    const sample = path.join(dir, 'test', 'sample.json');
    const tested = await timed('test', () => pluginKeeper(['test', dir, sample, '--path', 'left-pad/left-pad-1.3.0.json']));
    expect(tested.exitCode, tested.stderr).to.equal(0);
    expect(tested.stdout).to.match(/^validate +ok/m);

    const zipPath = path.join(root, 'ticket-format.zip');
    const packed = await timed('pack', () => pluginKeeper(['pack', dir, '--out', zipPath]));
    expect(packed.exitCode, packed.stderr).to.equal(0);

    const zip = await readFile(zipPath);
    const installed = await timed('install', () => e2e.call('POST', '/api/v1/plugins/install/zip', { body: form('file', zip, 'ticket-format.zip') }));
    expect(installed.status, installed.text).to.equal(201);
    expect(installed.json).to.include({ name: 'ticket-format', format_key: 'ticket', status: 'active', source_type: 'wasm_zip' });

    expect((await e2e.call('POST', '/api/v1/repositories', { body: { key: 'tickets', format: 'ticket' } })).status).to.equal(201);
    const artifact = await readFile(sample);
    const uploaded = await timed('upload', () => e2e.call('PUT', '/api/v1/repositories/tickets/artifacts/left-pad/left-pad-1.3.0.json', { body: artifact }));
    expect(uploaded.status, uploaded.text).to.equal(201);
    expect(uploaded.json).to.include({ version: '1.3.0', content_type: 'application/json', size_bytes: artifact.length });

    const refused = await e2e.call('PUT', '/api/v1/repositories/tickets/artifacts/bad.json', { body: '{"name": "x"}' });
    expect(refused.status).to.equal(422);
    expect(refused.json).to.include({ error: 'artifact_invalid', message: 'missing version (a string, x.y.z)' });

    const index = await e2e.call('GET', '/api/v1/repositories/tickets/index/index.json');
    expect(index.status).to.equal(200);
    expect(index.json).to.deep.equal([{ path: 'left-pad/left-pad-1.3.0.json', version: '1.3.0', size: artifact.length }]);
  });
});
