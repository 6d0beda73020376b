// Repositories through real HTTP on SQLite and on PostgreSQL: create/list/get/delete, their
// errors, the roles, and what repositories mean to plugins (uninstall's dependency check)
// and formats (repository_count).
import { expect } from 'chai';
import { postgresFixture, sqliteFixture, type EngineFixture } from '../support/engines.js';
import { manifest, pluginFolder, resetService, startE2E, type Answer, type E2E } from './harness.js';

const REPOS = '/api/v1/repositories';
const PLUGINS = '/api/v1/plugins';
const FORMATS = '/api/v1/formats';
const LOWER_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function expectError(answer: Answer, status: number, code: string): void {
  expect(answer.status, answer.text).to.equal(status);
  expect(answer.json, answer.text).to.be.an('object');
  expect(answer.json.error, answer.text).to.equal(code);
  expect(answer.json.message).to.be.a('string').that.is.not.empty;
}

for (const makeEngine of [sqliteFixture, postgresFixture]) {
  describe(`repositories API end to end (${makeEngine().engine})`, function () {
    this.timeout(60_000);
    let engine: EngineFixture;
    let e2e: E2E;
    let readerToken: string;

    const call = (method: string, target: string, options?: Parameters<E2E['call']>[2]) => e2e.call(method, target, options);
    const get = (target: string) => call('GET', target);
    const post = (target: string, body?: unknown) => call('POST', target, body === undefined ? {} : { body });
    const reader = (method: string, target: string, body?: unknown) =>
      call(method, target, { ...(body === undefined ? {} : { body }), headers: { authorization: `Bearer ${readerToken}` } });

    before(async function () {
      engine = makeEngine();
      e2e = await startE2E(engine);
      readerToken = await e2e.createToken('reader');
    });

    afterEach(() => resetService(e2e));

    after(async function () {
      await e2e?.close();
      await engine?.dispose();
    });

    it('creates, lists, gets and deletes repositories', async function () {
      const created = await post(REPOS, { key: 'libs-release', format: 'maven', description: 'Release JARs', public: true });
      expect(created.status, created.text).to.equal(201);
      expect(created.json).to.have.all.keys('id', 'key', 'format', 'description', 'public', 'index_generated_at', 'index_error', 'created_at', 'updated_at');
      expect(created.json).to.include({ key: 'libs-release', format: 'maven', description: 'Release JARs', public: true });
      expect(created.json.id).to.match(LOWER_UUID);
      expect(created.json.created_at).to.match(RFC3339_UTC);

      const minimal = await post(REPOS, { key: 'npm.internal_1', format: 'npm' });
      expect(minimal.status, minimal.text).to.equal(201);
      expect(minimal.json).to.include({ description: null, public: false });

      const list = await get(REPOS);
      expect(list.status).to.equal(200);
      expect(list.json.total).to.equal(2);
      expect(list.json.items.map((r: any) => r.key)).to.deep.equal(['libs-release', 'npm.internal_1']);

      const filtered = await get(`${REPOS}?format=npm`);
      expect(filtered.json).to.deep.equal({ items: [minimal.json], total: 1 });
      expect((await get(`${REPOS}?format=pypi`)).json).to.deep.equal({ items: [], total: 0 });

      const one = await get(`${REPOS}/libs-release`);
      expect(one.status).to.equal(200);
      expect(one.json).to.deep.equal(created.json);

      expect((await call('DELETE', `${REPOS}/libs-release`)).status).to.equal(204);
      expectError(await get(`${REPOS}/libs-release`), 404, 'not_found');
      expectError(await call('DELETE', `${REPOS}/libs-release`), 404, 'not_found');
      expect((await get(REPOS)).json.total).to.equal(1);
    });

    it('answers 400 for a bad key, unknown or missing fields, wrong types and an unknown format', async function () {
      for (const key of ['', 'Upper', '-leading', 'a/b', 'x'.repeat(65), 'sp ace']) {
        const answer = await post(REPOS, { key, format: 'npm' });
        expectError(answer, 400, 'bad_request');
        expect(answer.json.validation_errors.map((p: any) => p.field)).to.deep.equal(['key']);
      }
      expect((await post(REPOS, { key: 'x'.repeat(64), format: 'npm' })).status).to.equal(201);

      const unknownField = await post(REPOS, { key: 'ok', format: 'npm', colour: 'red' });
      expectError(unknownField, 400, 'bad_request');
      expect(unknownField.json.validation_errors.map((p: any) => p.field)).to.deep.equal(['colour']);

      const missing = await post(REPOS, {});
      expectError(missing, 400, 'bad_request');
      expect(missing.json.validation_errors.map((p: any) => p.field)).to.have.members(['key', 'format']);

      const wrongTypes = await post(REPOS, { key: 'ok', format: 'npm', public: 'yes', description: 3 });
      expect(wrongTypes.json.validation_errors.map((p: any) => p.field)).to.have.members(['public', 'description']);

      const unknownFormat = await post(REPOS, { key: 'ok', format: 'nope' });
      expectError(unknownFormat, 400, 'bad_request');
      expect(unknownFormat.json.validation_errors.map((p: any) => p.field)).to.deep.equal(['format']);

      expectError(await get(`${REPOS}?format=nope`), 400, 'bad_request');
      expectError(await get(`${REPOS}?format=npm&format=maven`), 400, 'bad_request');
      expect((await get(REPOS)).json.total).to.equal(1);
    });

    it('answers 409 repository_exists for a key in use, and 409 format_disabled', async function () {
      expect((await post(REPOS, { key: 'dup', format: 'npm' })).status).to.equal(201);
      expectError(await post(REPOS, { key: 'dup', format: 'maven' }), 409, 'repository_exists');
      expect((await get(`${REPOS}/dup`)).json.format).to.equal('npm');

      expect((await post(`${FORMATS}/helm/disable`)).status).to.equal(200);
      expectError(await post(REPOS, { key: 'charts', format: 'helm' }), 409, 'format_disabled');
      expectError(await get(`${REPOS}/charts`), 404, 'not_found');
    });

    it('lets readers read but not write, and anonymous callers nothing', async function () {
      expect((await post(REPOS, { key: 'shared', format: 'generic' })).status).to.equal(201);
      const listed = await reader('GET', REPOS);
      expect(listed.status, listed.text).to.equal(200);
      expect(listed.json.total).to.equal(1);
      expect((await reader('GET', `${REPOS}/shared`)).status).to.equal(200);
      expectError(await reader('POST', REPOS, { key: 'mine', format: 'generic' }), 403, 'forbidden');
      expectError(await reader('DELETE', `${REPOS}/shared`), 403, 'forbidden');

      for (const [method, target] of [['GET', REPOS], ['GET', `${REPOS}/shared`], ['POST', REPOS], ['DELETE', `${REPOS}/shared`]]) {
        const answer = await call(method, target, { anonymous: true });
        expectError(answer, 401, 'unauthorized');
        expect(answer.headers.get('www-authenticate')).to.equal('Bearer, Basic');
      }
      expect((await get(REPOS)).json.total).to.equal(1);
    });

    it("makes uninstalling its format's plugin a 409 dependency_conflict unless forced, and counts in repository_count", async function () {
      const dir = await pluginFolder(e2e.localRoot, 'demo', manifest('demo-format', '1.0.0', 'demo'), 'good');
      const installed = await post(`${PLUGINS}/install/local`, { path: dir });
      expect(installed.status, installed.text).to.equal(201);
      const pluginId = installed.json.id;

      expect((await get(`${FORMATS}/demo`)).json.repository_count).to.equal(0);
      const repository = await post(REPOS, { key: 'demo-repo', format: 'demo' });
      expect(repository.status, repository.text).to.equal(201);
      expect((await get(`${FORMATS}/demo`)).json.repository_count).to.equal(1);
      expect((await get(`${FORMATS}/npm`)).json.repository_count).to.equal(0);
      const listed = (await get(FORMATS)).json.items.find((f: any) => f.format_key === 'demo');
      expect(listed.repository_count).to.equal(1);

      const refused = await call('DELETE', `${PLUGINS}/${pluginId}`);
      expectError(refused, 409, 'dependency_conflict');
      expect(refused.json.dependent_repositories).to.deep.equal([{ id: repository.json.id, key: 'demo-repo' }]);
      // Nothing changed.
      const still = await get(`${PLUGINS}/${pluginId}`);
      expect(still.status).to.equal(200);
      expect(still.json.status).to.equal('active');
      expect((await get(`${FORMATS}/demo`)).json.is_enabled).to.equal(true);
      expect((await get(`${REPOS}/demo-repo`)).json).to.deep.equal(repository.json);

      expect((await call('DELETE', `${PLUGINS}/${pluginId}?force=true`)).status).to.equal(204);
      expectError(await get(`${PLUGINS}/${pluginId}`), 404, 'not_found');
      expectError(await get(`${FORMATS}/demo`), 404, 'not_found');
      const kept = await get(`${REPOS}/demo-repo`);
      expect(kept.status).to.equal(200);
      expect(kept.json).to.deep.equal(repository.json);
      // Its format has no handler any more, yet it is still a known filter value.
      expect((await get(`${REPOS}?format=demo`)).json.total).to.equal(1);
      // And no new repository of it can be made.
      expectError(await post(REPOS, { key: 'demo-2', format: 'demo' }), 400, 'bad_request');

      const events = await get(`${PLUGINS}/${pluginId}/events`);
      const uninstalled = events.json.items.find((e: any) => e.event_type === 'uninstalled');
      expect(uninstalled.details).to.deep.include({ forced: true, dependent_repositories: [{ id: repository.json.id, key: 'demo-repo' }] });
    });
  });
}
