// End to end: what a hostile plugin package or an anonymous client can make the server spend.
import { expect } from 'chai';
import { chmod, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { sqliteFixture, type EngineFixture } from '../support/engines.js';
import { manyFunctionsComponent } from '../support/many-functions.js';
import { makeZip } from '../support/zips.js';
import { fixtureWasm } from '../support/fixtures.js';
import { form, manifest, pluginFolder, startE2E, type E2E } from './harness.js';

describe('hardening end to end (sqlite)', function () {
  this.timeout(120_000);
  let engine: EngineFixture;
  let e2e: E2E;

  before(async () => {
    engine = sqliteFixture();
    e2e = await startE2E(engine);
  });
  after(async () => {
    await e2e?.close();
    await engine?.dispose();
  });

  it('refuses a component exporting thousands of functions with a 422 while /health keeps answering; nothing is cached', async () => {
    const wasm = await manyFunctionsComponent(3000);
    const zip = makeZip([
      { name: 'pkg/plugin.toml', data: manifest('many-functions', '1.0.0', 'many') },
      { name: 'pkg/plugin.wasm', data: Buffer.from(wasm) },
    ]);
    let healthSlowestMs = 0;
    let installing = true;
    const probing = (async () => {
      while (installing) {
        const started = performance.now();
        const health = await e2e.call('GET', '/health', { anonymous: true });
        healthSlowestMs = Math.max(healthSlowestMs, performance.now() - started);
        expect(health.status).to.equal(200);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const answer = await e2e.call('POST', '/api/v1/plugins/install/zip', { body: form('file', zip, 'many.zip') });
    installing = false;
    await probing;

    expect(answer.status, answer.text).to.equal(422);
    expect(answer.json.error).to.equal('plugin_validation_failed');
    expect(answer.json.message).to.contain('3004 functions').and.contain('limit of 1000');
    expect(healthSlowestMs, 'slowest /health during the install (ms)').to.be.below(200);
    expect(await readdir(path.join(e2e.dataDir, 'cache', 'components'))).to.deep.equal([]);
    expect((await e2e.call('GET', '/api/v1/plugins')).json.items).to.deep.equal([]);
  });

  it('keeps DATA_DIR owner-only: database, -wal, -shm, plugin files and caches are 0600, folders 0700', async () => {
    const zip = makeZip([
      { name: 'pkg/plugin.toml', data: manifest('private-zip', '1.0.0', 'demo') },
      { name: 'pkg/plugin.wasm', data: Buffer.from(await fixtureWasm('good')) },
    ]);
    const zipped = await e2e.call('POST', '/api/v1/plugins/install/zip', { body: form('file', zip, 'p.zip') });
    expect(zipped.status, zipped.text).to.equal(201);
    // A local install copies the operator's files, which are world-readable here.
    const folder = await pluginFolder(e2e.localRoot, 'local', manifest('private-local', '1.0.0', 'demo-v2'), 'good-v2');
    await chmod(folder, 0o755);
    for (const file of await readdir(folder)) await chmod(path.join(folder, file), 0o644);
    const local = await e2e.call('POST', '/api/v1/plugins/install/local', { body: { path: folder } });
    expect(local.status, local.text).to.equal(201);

    const modes = new Map<string, number>();
    const walk = async (dir: string) => {
      modes.set(dir, (await stat(dir)).mode & 0o777);
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const entryPath = path.join(dir, entry.name);
        if (entry.isDirectory()) await walk(entryPath);
        else modes.set(entryPath, (await stat(entryPath)).mode & 0o777);
      }
    };
    await walk(e2e.dataDir);
    const names = [...modes.keys()].map((name) => path.relative(e2e.dataDir, name));
    expect(names).to.include.members(['plugin-keeper.db', 'plugin-keeper.db-wal', 'plugin-keeper.db-shm']);
    expect(names.some((name) => name.startsWith('plugins/') && name.endsWith('plugin.wasm'))).to.equal(true);
    expect(names.some((name) => name.startsWith('cache/components/') && name.endsWith('plugin.js'))).to.equal(true);
    const open = [...modes].filter(([, mode]) => (mode & 0o077) !== 0).map(([name, mode]) => `${path.relative(e2e.dataDir, name)} ${mode.toString(8)}`);
    expect(open, 'files or folders readable by others').to.deep.equal([]);
    for (const id of [zipped.json.id, local.json.id]) expect((await e2e.call('DELETE', `/api/v1/plugins/${id}`)).status).to.equal(204);
  });
});
