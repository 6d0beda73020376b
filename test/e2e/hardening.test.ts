// End to end: what a hostile plugin package or an anonymous client can make the server spend.
import { expect } from 'chai';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { sqliteFixture, type EngineFixture } from '../support/engines.js';
import { manyFunctionsComponent } from '../support/many-functions.js';
import { makeZip } from '../support/zips.js';
import { form, manifest, startE2E, type E2E } from './harness.js';

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
});
