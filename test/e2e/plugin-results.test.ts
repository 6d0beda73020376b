// What a hostile plugin returns, through real HTTP, real children and both engines: the
// puppet fixture (test/fixtures/puppet) returns whatever the test tells it to. Results out
// of bounds are 502 `plugin_invalid_response` naming the field, leave nothing stored, and do
// not quarantine the plugin.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { postgresFixture, sqliteFixture, type EngineFixture } from '../support/engines.js';
import { startE2E, type CallOptions, type E2E } from './harness.js';
import { expectInvalidResponse, installPuppet } from './puppet.js';

const REPOS = '/api/v1/repositories';

for (const makeEngine of [sqliteFixture, postgresFixture]) {
  describe(`plugin results out of bounds (${makeEngine().engine})`, function () {
    this.timeout(90_000);
    let engine: EngineFixture;
    let e2e: E2E;

    const call = (method: string, target: string, options?: CallOptions) => e2e.call(method, target, options);
    /** An upload of the puppet artifact whose metadata is `metadata`. */
    const put = (target: string, metadata: unknown) => call('PUT', target, { body: Buffer.from(JSON.stringify(metadata)) });
    const blobFiles = async () => (await readdir(path.join(e2e.dataDir, 'blobs'), { recursive: true })).filter((entry) => /[0-9a-f]{64}$/.test(entry));

    before(async function () {
      engine = makeEngine();
      e2e = await startE2E(engine);
      await installPuppet(e2e);
    });

    beforeEach(async function () {
      expect((await call('POST', REPOS, { body: { key: 'strings', format: 'puppet' } })).status).to.equal(201);
    });

    afterEach(async function () {
      expect((await call('DELETE', `${REPOS}/strings`)).status).to.equal(204);
    });

    after(async function () {
      await e2e?.close();
      await engine?.dispose();
    });

    it('refuses 6-million-character metadata strings with 502 naming the field, stores nothing, and does not quarantine the plugin', async function () {
      const huge = { repeat: 'x', times: 6_000_000 };
      const attempts: Array<[unknown, RegExp]> = [
        [{ version: huge }, /parse-metadata result: version is 6000000 characters long; at most 256/],
        [{ path: huge }, /parse-metadata result: path .* longer than 1024 characters/],
        [{ checksumSha256: huge }, /parse-metadata result: checksum .* not a SHA-256/],
        [{ contentType: huge }, /parse-metadata result: content type is 6000000 characters long/],
        [{ version: '1.0\u0000' }, /version contains a control/],
        [{ path: '../../outside' }, /path .* "\.\." segment/],
      ];
      // More refusals than the crashes that quarantine a plugin (5).
      for (const [metadata, field] of attempts) expectInvalidResponse(await put(`${REPOS}/strings/artifacts/a.pup`, metadata), field);
      expect((await call('GET', `${REPOS}/strings/artifacts`)).json.total).to.equal(0);
      expect(await blobFiles()).to.deep.equal([]);

      const good = await put(`${REPOS}/strings/artifacts/a.pup`, { version: '1.0.0', checksumSha256: 'AB'.repeat(32) });
      expect(good.status, good.text).to.equal(201);
      expect(good.json).to.include({ version: '1.0.0', content_type: 'application/x-puppet' });
      expect(good.json.metadata.checksum_sha256).to.equal('ab'.repeat(32));
    });

    it('keeps the previous index and records why when generate-index returns too many files or a path out of the repository', async function () {
      expect((await put(`${REPOS}/strings/artifacts/a.pup`, { version: '1.0' })).status).to.equal(201);
      const index = async () => (await call('GET', `${REPOS}/strings/index`)).json;
      expect((await index()).items.map((file: any) => file.path)).to.deep.equal(['index.txt']);

      expect((await put(`${REPOS}/strings/artifacts/b.pup`, { version: 'files=10001' })).status).to.equal(201);
      let state = await index();
      expect(state.error).to.match(/^generate-index failed: the puppet plugin returned an invalid generate-index result: the file list has 10001 files; at most 10000$/);
      expect(state.items.map((file: any) => file.path)).to.deep.equal(['index.txt']);

      expect((await put(`${REPOS}/strings/artifacts/b.pup?overwrite=true`, { version: 'path=../../escape' })).status).to.equal(201);
      state = await index();
      expect(state.error).to.match(/index file 0 path "\.\.\/\.\.\/escape" is refused/);
      expect(state.items.map((file: any) => file.path)).to.deep.equal(['index.txt']);

      // A good result again: the error goes.
      expect((await put(`${REPOS}/strings/artifacts/b.pup?overwrite=true`, { version: '2.0' })).status).to.equal(201);
      state = await index();
      expect(state.error).to.equal(null);
      expect(state.items.map((file: any) => file.path)).to.deep.equal(['index.txt']);
    });
  });
}
