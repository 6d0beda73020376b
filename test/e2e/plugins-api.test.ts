// The contract's plugin and format tables through real HTTP: a real supervisor
// (startSupervisor over loadConfig) on SQLite and on PostgreSQL, real plugin processes, real
// Git over smart HTTP on loopback, called with fetch. One supervisor per engine; every test
// uninstalls what it installed and re-enables the formats it disabled.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CORE_FORMAT_KEYS } from '../../supervisor/store/store.js';
import { postgresFixture, sqliteFixture, type EngineFixture } from '../support/engines.js';
import { fixtureWasm } from '../support/fixtures.js';
import { startGitServer, TestRepo, type GitServer } from '../support/git-server.js';
import {
  descendants,
  eventually,
  form,
  isAlive,
  manifest,
  pluginFolder,
  pluginZip,
  startE2E,
  type Answer,
  type E2E,
} from './harness.js';

const PLUGINS = '/api/v1/plugins';
const FORMATS = '/api/v1/formats';
const UNKNOWN_ID = '0b6f3a52-8d0e-4c1e-9f55-3c2d7a1b9e40';
const DEMO_TEXT = 'DEMO artifact';
/** The `good` handler's version is the sum of the artifact's bytes. */
const byteSum = (text: string) => String([...Buffer.from(text)].reduce((sum, byte) => sum + byte, 0));

const PLUGIN_FIELDS = [
  'id',
  'plugin_id',
  'name',
  'version',
  'display_name',
  'description',
  'author',
  'homepage',
  'license',
  'status',
  'plugin_type',
  'source_type',
  'source_url',
  'source_ref',
  'resolved_commit',
  'wasm_sha256',
  'format_key',
  'capabilities',
  'resource_limits',
  'error_message',
  'installed_at',
  'enabled_at',
  'updated_at',
  'runtime',
  'nodes',
];
const FORMAT_FIELDS = [
  'id',
  'format_key',
  'plugin_id',
  'handler_type',
  'display_name',
  'description',
  'extensions',
  'is_enabled',
  'priority',
  'capabilities',
  'repository_count',
  'replaces_core',
  'created_at',
  'updated_at',
];
const PROCESS_FIELDS = [
  'node_id',
  'pid',
  'version',
  'state',
  'started_at',
  'rss_bytes',
  'cpu_percent',
  'wasm_memory_bytes',
  'in_flight',
  'calls_total',
  'errors_total',
  'restarts',
  'last_exit',
];
const TEST_RESULT_FIELDS = [
  'success',
  'format_key',
  'handler_type',
  'execution_time_ms',
  'memory_used_bytes',
  'metadata',
  'validation_result',
  'error',
];
const RFC3339_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const LOWER_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The contract's error body, with the status and code expected. */
function expectError(answer: Answer, status: number, code: string): void {
  expect(answer.status, answer.text).to.equal(status);
  expect(answer.json, answer.text).to.be.an('object');
  expect(answer.json.error, answer.text).to.equal(code);
  expect(answer.json.message).to.be.a('string').that.is.not.empty;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

for (const makeEngine of [sqliteFixture, postgresFixture]) {
  describe(`plugins and formats API end to end (${makeEngine().engine})`, function () {
    this.timeout(60_000);
    let engine: EngineFixture;
    let e2e: E2E;
    let gitRoot: string;
    let gitServer: GitServer;
    let repo: TestRepo;
    let repoCommit: string;
    let repoNextCommit: string;

    const call = (method: string, target: string, options?: Parameters<E2E['call']>[2]) => e2e.call(method, target, options);
    const get = (target: string) => call('GET', target);
    const post = (target: string, body?: unknown) => call('POST', target, body === undefined ? {} : { body });

    async function installLocal(folder: string, toml: string | null, wasm: Parameters<typeof pluginFolder>[3]): Promise<Answer> {
      const dir = await pluginFolder(e2e.localRoot, folder, toml, wasm);
      return post(`${PLUGINS}/install/local`, { path: dir });
    }

    /** The `good` component as plugin demo-format serving "demo", installed from a folder. */
    async function installDemo(version = '1.0.0'): Promise<any> {
      const answer = await installLocal('demo', manifest('demo-format', version, 'demo'), 'good');
      expect(answer.status, answer.text).to.equal(201);
      return answer.json;
    }

    async function pluginTotal(): Promise<number> {
      const answer = await get(PLUGINS);
      expect(answer.status).to.equal(200);
      return answer.json.total;
    }

    const testFormat = (key: string, content: string, filePath = 'dir/a.demo') =>
      post(`${FORMATS}/${key}/test`, { path: filePath, content });

    async function events(id: string, query = ''): Promise<any[]> {
      const answer = await get(`${PLUGINS}/${id}/events${query}`);
      expect(answer.status, answer.text).to.equal(200);
      return answer.json.items;
    }

    before(async function () {
      engine = makeEngine();
      e2e = await startE2E(engine);
      gitRoot = await mkdtemp(path.join(os.tmpdir(), 'pk-e2e-git-'));
      repo = await TestRepo.create(gitRoot, 'demo');
      const good = await fixtureWasm('good');
      repoCommit = await repo.commit({
        'plugin.toml': manifest('git-demo', '1.0.0', 'demo'),
        'plugin.wasm': good,
        'plugins/v2/plugin.toml': manifest('git-demo-v2', '2.0.0', 'demo-v2'),
        'plugins/v2/plugin.wasm': await fixtureWasm('good-v2'),
      });
      // A later version on a tag only (main stays at repoCommit): what a git reload with a ref fetches.
      await repo.switchTo('next');
      repoNextCommit = await repo.commit({ 'plugin.toml': manifest('git-demo', '1.1.0', 'demo'), 'plugin.wasm': good });
      await repo.tag('v1.1.0');
      gitServer = await startGitServer(gitRoot, 'smart');
    });

    afterEach(async function () {
      const list = await get(`${PLUGINS}?per_page=100`);
      for (const plugin of list.json.items) {
        const removed = await call('DELETE', `${PLUGINS}/${plugin.id}`);
        expect(removed.status, removed.text).to.equal(204);
      }
      const disabled = await get(`${FORMATS}?enabled=false`);
      for (const format of disabled.json.items) {
        const enabled = await post(`${FORMATS}/${format.format_key}/enable`);
        expect(enabled.status, enabled.text).to.equal(200);
      }
    });

    after(async function () {
      await e2e?.close();
      await gitServer?.close();
      await repo?.remove();
      await engine?.dispose();
      if (gitRoot) await rm(gitRoot, { recursive: true, force: true });
    });

    describe('health', function () {
      it('answers /health and /ready without credentials, while the API needs them', async function () {
        const health = await call('GET', '/health', { anonymous: true });
        expect(health.status).to.equal(200);
        expect(health.json.status).to.equal('ok');
        expect(health.json.checks.database).to.deep.equal({ ok: true });
        expect(health.json.checks.plugins).to.include({ ok: true, active: 0, running: 0, error: 0 });

        const ready = await call('GET', '/ready', { anonymous: true });
        expect(ready.status).to.equal(200);
        expect(ready.json).to.deep.equal({ status: 'ready' });

        const anonymous = await call('GET', PLUGINS, { anonymous: true });
        expectError(anonymous, 401, 'unauthorized');
        expect(anonymous.headers.get('www-authenticate')).to.equal('Bearer, Basic');
      });
    });

    describe('plugins', function () {
      it('lists with paging and filters; a bad filter, page or per_page is a 400', async function () {
        const empty = await get(PLUGINS);
        expect(empty.status).to.equal(200);
        expect(empty.json).to.deep.equal({ items: [], total: 0, page: 1, per_page: 20 });

        const demo = await installDemo();
        const trap = await installLocal('trap', manifest('trap-format', '1.0.0', 'trap'), 'trap');
        expect(trap.status, trap.text).to.equal(201);
        expect((await post(`${PLUGINS}/${trap.json.id}/disable`)).status).to.equal(200);

        const all = await get(PLUGINS);
        expect(all.json).to.include({ total: 2, page: 1, per_page: 20 });
        expect(all.json.items.map((p: any) => p.name)).to.have.members(['demo-format', 'trap-format']);
        for (const item of all.json.items) expect(item).to.include.all.keys(PLUGIN_FIELDS);

        const active = await get(`${PLUGINS}?status=active`);
        expect(active.json.total).to.equal(1);
        expect(active.json.items.map((p: any) => p.id)).to.deep.equal([demo.id]);
        const disabled = await get(`${PLUGINS}?status=disabled&plugin_type=format_handler`);
        expect(disabled.json.items.map((p: any) => p.id)).to.deep.equal([trap.json.id]);
        const none = await get(`${PLUGINS}?status=error`);
        expect(none.json).to.include({ total: 0 });
        expect(none.json.items).to.deep.equal([]);

        const page2 = await get(`${PLUGINS}?per_page=1&page=2`);
        expect(page2.json).to.include({ total: 2, page: 2, per_page: 1 });
        expect(page2.json.items).to.have.length(1);
        const page1 = await get(`${PLUGINS}?per_page=1&page=1`);
        expect(page1.json.items[0].id).to.not.equal(page2.json.items[0].id);
        const maxPerPage = await get(`${PLUGINS}?per_page=100`);
        expect(maxPerPage.status).to.equal(200);

        for (const query of ['status=running', 'plugin_type=theme', 'per_page=101', 'per_page=0', 'page=0', 'page=x']) {
          const bad = await get(`${PLUGINS}?${query}`);
          expectError(bad, 400, 'bad_request');
          expect(bad.json.validation_errors, query).to.have.length(1);
          expect(bad.json.validation_errors[0].field).to.equal(query.split('=')[0]);
        }
      });

      it('get: 400 for a malformed id, 404 for an unknown one', async function () {
        const malformed = await get(`${PLUGINS}/not-a-uuid`);
        expectError(malformed, 400, 'bad_request');
        expect(malformed.json.validation_errors).to.deep.equal([{ field: 'id', message: malformed.json.message }]);
        expectError(await get(`${PLUGINS}/${UNKNOWN_ID}`), 404, 'not_found');
        // Ids are accepted in upper case and read as the lowercase stored form.
        expectError(await get(`${PLUGINS}/${UNKNOWN_ID.toUpperCase()}`), 404, 'not_found');
        for (const [method, suffix] of [
          ['POST', 'enable'],
          ['POST', 'disable'],
          ['POST', 'reload'],
          ['GET', 'processes'],
          ['GET', 'events'],
        ] as const) {
          expectError(await call(method, `${PLUGINS}/${UNKNOWN_ID}/${suffix}`), 404, 'not_found');
        }
        expectError(await call('PUT', `${PLUGINS}/${UNKNOWN_ID}/limits`, { body: { instances: 2 } }), 404, 'not_found');
        expectError(await call('DELETE', `${PLUGINS}/${UNKNOWN_ID}`), 404, 'not_found');
      });

      it('installs a ZIP uploaded as "file": 201 with the plugin object, its process and the manifest warnings', async function () {
        const zip = await pluginZip(manifest('zip-demo', '1.0.0', 'demo', 'colour = "blue"\n'), 'good');
        const answer = await post(`${PLUGINS}/install/zip`, form('file', zip, 'zip-demo.zip'));
        expect(answer.status, answer.text).to.equal(201);
        const plugin = answer.json;
        expect(plugin).to.include.all.keys([...PLUGIN_FIELDS, 'message', 'warnings']);
        expect(plugin.id).to.match(LOWER_UUID);
        expect(plugin).to.include({
          plugin_id: plugin.id,
          name: 'zip-demo',
          version: '1.0.0',
          status: 'active',
          plugin_type: 'format_handler',
          source_type: 'wasm_zip',
          source_url: null,
          resolved_commit: null,
          format_key: 'demo',
          error_message: null,
          wasm_sha256: sha256(await fixtureWasm('good')),
          // No [plugin] display_name: the format's.
          display_name: 'Demo',
        });
        expect(plugin.capabilities).to.deep.equal({ parse_metadata: true, validate_artifact: true, generate_index: false, handle_request: false });
        expect(plugin.resource_limits).to.deep.equal({ memory_mb: 64, timeout_secs: 5, instances: 1 });
        for (const field of ['installed_at', 'enabled_at', 'updated_at']) expect(plugin[field], field).to.match(RFC3339_UTC);
        expect(plugin.runtime).to.include({ state: 'running', instances: 1, restarts: 0 });
        expect(plugin.runtime.pids).to.have.length(1);
        expect(isAlive(plugin.runtime.pids[0])).to.equal(true);
        expect(plugin.message).to.be.a('string').that.contains('installed');
        expect(plugin.warnings).to.deep.equal(['unknown manifest key "format.colour" was ignored']);

        // The stored plugin reads back the same, without the install-only fields.
        const read = await get(`${PLUGINS}/${plugin.id}`);
        expect(read.status).to.equal(200);
        const { message: _message, warnings: _warnings, ...stored } = plugin;
        expect(read.json).to.deep.equal(stored);
        const processes = await get(`${PLUGINS}/${plugin.id}/processes`);
        expect(processes.status).to.equal(200);
        expect(processes.json.items).to.have.length(1);
        expect(processes.json.items[0]).to.include.all.keys(PROCESS_FIELDS);
        expect(processes.json.items[0]).to.include({ pid: plugin.runtime.pids[0], version: '1.0.0', state: 'ready' });
        const format = await get(`${FORMATS}/demo`);
        expect(format.json).to.include({ plugin_id: plugin.id, handler_type: 'wasm', is_enabled: true });
      });

      it('installs a ZIP uploaded as "package"; an upload without a file or not a ZIP is a 400', async function () {
        const zip = await pluginZip(manifest('package-demo', '2.0.0', 'demo-v2'), 'good-v2');
        const answer = await post(`${PLUGINS}/install/zip`, form('package', zip, 'p.zip'));
        expect(answer.status, answer.text).to.equal(201);
        expect(answer.json).to.include({ name: 'package-demo', version: '2.0.0', format_key: 'demo-v2', source_type: 'wasm_zip' });
        expect(answer.json.warnings).to.deep.equal([]);

        // A ZIP plugin reloads from a new upload; a bodiless reload has nothing to read.
        const v2 = await pluginZip(manifest('package-demo', '2.1.0', 'demo-v2'), 'good-v2');
        const reloaded = await post(`${PLUGINS}/${answer.json.id}/reload`, form('file', v2, 'p.zip'));
        expect(reloaded.status, reloaded.text).to.equal(200);
        expect(reloaded.json).to.include({ version: '2.1.0', source_type: 'wasm_zip' });
        expectError(await post(`${PLUGINS}/${answer.json.id}/reload`), 400, 'bad_request');
        const otherPlugin = await pluginZip(manifest('someone-else', '3.0.0', 'demo-v2'), 'good-v2');
        expectError(await post(`${PLUGINS}/${answer.json.id}/reload`, form('file', otherPlugin, 'p.zip')), 422, 'plugin_validation_failed');
        expect((await get(`${PLUGINS}/${answer.json.id}`)).json.version).to.equal('2.1.0');

        const before = await pluginTotal();
        const noFile = await post(`${PLUGINS}/install/zip`, form('attachment', zip, 'p.zip'));
        expect(noFile.status, noFile.text).to.equal(400);
        const notZip = await post(`${PLUGINS}/install/zip`, form('file', Buffer.from('not a zip at all'), 'p.zip'));
        expect(notZip.status, notZip.text).to.equal(400);
        expect(await pluginTotal()).to.equal(before);
      });

      it('installs from a local folder; a folder outside the allowed roots or a missing one is a 400', async function () {
        const plugin = await installDemo();
        expect(plugin).to.include({ source_type: 'wasm_local', source_url: path.join(e2e.localRoot, 'demo'), status: 'active' });
        expect(plugin.runtime.pids).to.have.length(1);

        const outside = await mkdtemp(path.join(os.tmpdir(), 'pk-e2e-outside-'));
        try {
          await pluginFolder(outside, 'x', manifest('outside-format', '1.0.0', 'outside'), 'good');
          expectError(await post(`${PLUGINS}/install/local`, { path: path.join(outside, 'x') }), 400, 'local_path_not_allowed');
        } finally {
          await rm(outside, { recursive: true, force: true });
        }
        expectError(await post(`${PLUGINS}/install/local`, { path: path.join(e2e.localRoot, 'nowhere') }), 400, 'invalid_local_path');
        expectError(await post(`${PLUGINS}/install/local`, { path: 'relative/dir' }), 400, 'invalid_local_path');
        const missingField = await post(`${PLUGINS}/install/local`, {});
        expectError(missingField, 400, 'bad_request');
        expect(missingField.json.validation_errors).to.deep.equal([{ field: 'path', message: 'field "path" is required' }]);
        expect(await pluginTotal()).to.equal(1);
      });

      it('installs from a Git repository served over smart HTTP, pinned to the commit; a missing ref is a 404', async function () {
        const url = `${gitServer.url}/demo.git`;
        const answer = await post(`${PLUGINS}/install/git`, { url, ref: 'main' });
        expect(answer.status, answer.text).to.equal(201);
        expect(answer.json).to.include({
          name: 'git-demo',
          source_type: 'wasm_git',
          source_url: url,
          source_ref: 'main',
          resolved_commit: repoCommit,
          status: 'active',
        });
        expect(answer.json.runtime.pids).to.have.length(1);
        expect((await testFormat('demo', DEMO_TEXT)).status).to.equal(200);

        expectError(await post(`${PLUGINS}/install/git`, { url, ref: 'no-such-branch' }), 404, 'ref_not_found');
        expectError(await post(`${PLUGINS}/install/git`, { url: `${gitServer.url}/missing.git` }), 404, 'repository_not_found');
        expectError(await post(`${PLUGINS}/install/git`, { url: 'ftp://127.0.0.1/demo.git' }), 400, 'invalid_git_url');
        expectError(await post(`${PLUGINS}/install/git`, { url, path: '../outside' }), 400, 'invalid_package_path');
        const noUrl = await post(`${PLUGINS}/install/git`, { ref: 'main' });
        expectError(noUrl, 400, 'bad_request');
        expect(noUrl.json.validation_errors.map((p: any) => p.field)).to.deep.equal(['url']);
        expect(await pluginTotal()).to.equal(1);

        // Reload with a ref: the tag's commit, recorded as the new source.
        const reloaded = await post(`${PLUGINS}/${answer.json.id}/reload`, { ref: 'v1.1.0' });
        expect(reloaded.status, reloaded.text).to.equal(200);
        expect(reloaded.json).to.include({ version: '1.1.0', source_ref: 'v1.1.0', resolved_commit: repoNextCommit });
        expectError(await post(`${PLUGINS}/${answer.json.id}/reload`, { ref: 'no-such-tag' }), 404, 'ref_not_found');
        expect((await get(`${PLUGINS}/${answer.json.id}`)).json).to.include({ version: '1.1.0', resolved_commit: repoNextCommit });
      });

      it('installs the plugin in a folder of a Git monorepo (`path`)', async function () {
        const url = `${gitServer.url}/demo.git`;
        const answer = await post(`${PLUGINS}/install/git`, { url, path: 'plugins/v2' });
        expect(answer.status, answer.text).to.equal(201);
        expect(answer.json).to.include({ name: 'git-demo-v2', format_key: 'demo-v2', resolved_commit: repoCommit, source_ref: null });
        expect((await testFormat('demo-v2', DEMO_TEXT)).status).to.equal(200);
        const missing = await post(`${PLUGINS}/install/git`, { url, path: 'plugins/none' });
        expectError(missing, 422, 'plugin_validation_failed');
        expect(missing.json.validation_errors.map((p: any) => p.field)).to.deep.equal(['path']);
      });

      it('refuses a duplicate (409 with the existing id), another plugin\'s format key (409) and a core key (422), writing nothing', async function () {
        const demo = await installDemo();
        const children = await descendants();

        const duplicate = await installLocal('demo', manifest('demo-format', '1.0.1', 'demo'), 'good');
        expectError(duplicate, 409, 'plugin_already_exists');
        expect(duplicate.json.existing_plugin_id).to.equal(demo.id);

        const sameKey = await installLocal('other', manifest('other-format', '1.0.0', 'demo'), 'good');
        expectError(sameKey, 409, 'format_key_conflict');

        // A core key without replace_core: 409 naming the core handler and the flag.
        const coreKey = await installLocal('core', manifest('core-clash', '1.0.0', 'maven'), 'good');
        expectError(coreKey, 409, 'format_key_conflict');
        expect(coreKey.json).to.include({ core_handler: 'maven', flag: 'replace_core' });

        expect(await pluginTotal()).to.equal(1);
        expect((await get(`${FORMATS}/maven`)).json).to.include({ handler_type: 'core', plugin_id: null });
        expect((await get(`${FORMATS}/demo`)).json.plugin_id).to.equal(demo.id);
        expect(await descendants()).to.deep.equal(children);
      });

      it('replaces a core handler with replace_core: the format shows the plugin; disabled, enabled, uninstalled, it follows', async function () {
        const dir = await pluginFolder(e2e.localRoot, 'pypi-replacement', manifest('pypi-replacement', '1.0.0', 'pypi'), 'good-pypi');
        const installed = await post(`${PLUGINS}/install/local`, { path: dir, replace_core: true });
        expect(installed.status, installed.text).to.equal(201);
        expect(installed.json.message).to.contain('in place of the core handler');
        const format = async () => (await get(`${FORMATS}/pypi`)).json;
        expect(await format()).to.include({ handler_type: 'wasm', plugin_id: installed.json.id, replaces_core: true, is_enabled: true, display_name: 'PyPI' });
        expect((await get(`${FORMATS}?handler_type=wasm`)).json.items.map((f: any) => f.format_key)).to.deep.equal(['pypi']);
        expect((await testFormat('pypi', 'DEMO wheel')).json).to.include({ success: true, handler_type: 'wasm' });

        expect((await post(`${PLUGINS}/${installed.json.id}/disable`)).status).to.equal(200);
        expect(await format()).to.include({ handler_type: 'core', plugin_id: null, replaces_core: false, is_enabled: true });
        expect((await testFormat('pypi', 'DEMO wheel')).json).to.include({ success: false, handler_type: 'core' });
        expect((await post(`${PLUGINS}/${installed.json.id}/enable`)).status).to.equal(200);
        expect(await format()).to.include({ handler_type: 'wasm', replaces_core: true });
        expect((await call('DELETE', `${PLUGINS}/${installed.json.id}`)).status).to.equal(204);
        expect(await format()).to.include({ handler_type: 'core', plugin_id: null, replaces_core: false, is_enabled: true });
        expect((await testFormat('pypi', 'DEMO wheel')).json.handler_type).to.equal('core');
      });

      it('refuses invalid packages with 422 and every problem, leaving no row, format, file or process behind', async function () {
        const demo = await installDemo();
        const children = await descendants();
        const cases: Array<{ name: string; answer: () => Promise<Answer>; field: string; mentions: string }> = [
          {
            name: 'format-key() differs from [format].key',
            answer: () => installLocal('bad', manifest('bad-key', '1.0.0', 'badkey'), 'wrong-key'),
            field: 'wasm',
            mentions: 'not-the-key',
          },
          {
            name: 'a core module, not a component',
            answer: () => installLocal('bad', manifest('bad-core', '1.0.0', 'badkey'), 'core-module'),
            field: 'wasm',
            mentions: 'core module',
          },
          {
            name: 'no plugin.toml (ZIP)',
            answer: async () => post(`${PLUGINS}/install/zip`, form('file', await pluginZip(null, 'good'), 'p.zip')),
            field: 'plugin.toml',
            mentions: 'plugin.toml',
          },
          {
            name: 'bad manifest fields and no component, all at once',
            answer: () => installLocal('bad', '[plugin]\nname = "X"\nversion = "one"\n[format]\nkey = "badkey"\n', null),
            field: 'plugin.name',
            mentions: 'semantic version',
          },
        ];
        for (const { name, answer, field, mentions } of cases) {
          const refused = await answer();
          expectError(refused, 422, 'plugin_validation_failed');
          const problems = refused.json.validation_errors;
          expect(problems, name).to.be.an('array').that.is.not.empty;
          for (const problem of problems) expect(problem).to.have.all.keys('field', 'message');
          expect(problems.map((p: any) => p.field), name).to.include(field);
          expect(JSON.stringify(problems), name).to.contain(mentions);
          if (name.startsWith('bad manifest')) {
            expect(problems.map((p: any) => p.field)).to.include.members(['plugin.version', 'format.display_name']);
            expect(problems.length).to.be.greaterThan(3);
          }
          expect(await pluginTotal(), name).to.equal(1);
          expectError(await get(`${FORMATS}/badkey`), 404, 'not_found');
          expect(await descendants(), name).to.deep.equal(children);
        }
        const health = await call('GET', '/health', { anonymous: true });
        expect(health.json.checks.plugins).to.include({ active: 1, running: 1 });
        // No file either: the one plugin folder, and nothing left of fetches or uploads.
        expect(await readdir(path.join(e2e.dataDir, 'plugins'))).to.deep.equal([demo.id]);
        const temporary = await readdir(path.join(e2e.dataDir, 'tmp'), { recursive: true });
        // (The folders themselves stay: uploads/ and the blob store's staging folder blobs/.)
        expect(temporary.filter((entry) => entry !== 'uploads' && entry !== 'blobs')).to.deep.equal([]);
      });

      it('disable stops the processes and the format; enable starts a new process', async function () {
        const demo = await installDemo();
        const [pid] = demo.runtime.pids;

        const disabled = await post(`${PLUGINS}/${demo.id}/disable`);
        expect(disabled.status, disabled.text).to.equal(200);
        expect(disabled.json).to.include({ id: demo.id, status: 'disabled', installed_at: demo.installed_at });
        expect(Date.parse(disabled.json.updated_at)).to.be.greaterThan(Date.parse(demo.updated_at));
        expect(disabled.json.runtime).to.include({ state: 'not_started' });
        expect(disabled.json.runtime.pids).to.deep.equal([]);
        expect((await get(`${PLUGINS}/${demo.id}/processes`)).json).to.deep.equal({ items: [] });
        expect(isAlive(pid)).to.equal(false);
        expect((await get(`${FORMATS}/demo`)).json.is_enabled).to.equal(false);
        expectError(await testFormat('demo', DEMO_TEXT), 503, 'format_unavailable');
        // Disabling twice is harmless.
        expect((await post(`${PLUGINS}/${demo.id}/disable`)).status).to.equal(200);

        const enabled = await post(`${PLUGINS}/${demo.id}/enable`);
        expect(enabled.status, enabled.text).to.equal(200);
        expect(enabled.json).to.include({ status: 'active', error_message: null });
        expect(enabled.json.runtime.pids).to.have.length(1);
        expect(enabled.json.runtime.pids[0]).to.not.equal(pid);
        const processes = (await get(`${PLUGINS}/${demo.id}/processes`)).json.items;
        expect(processes.map((p: any) => [p.pid, p.state])).to.deep.equal([[enabled.json.runtime.pids[0], 'ready']]);
        expect((await get(`${FORMATS}/demo`)).json.is_enabled).to.equal(true);
        expect((await testFormat('demo', DEMO_TEXT)).status).to.equal(200);
        // Enabling an active plugin changes nothing.
        const again = await post(`${PLUGINS}/${demo.id}/enable`);
        expect(again.json.runtime.pids).to.deep.equal(enabled.json.runtime.pids);

        const types = (await events(demo.id, '?limit=4')).map((e) => e.event_type);
        expect(types).to.deep.equal(['format_handler_enabled', 'enabled', 'format_handler_disabled', 'disabled']);
      });

      it('reloads a local plugin to the folder\'s new version; a failing reload is a 422 and the old version keeps serving', async function () {
        const demo = await installDemo('1.0.0');
        await pluginFolder(e2e.localRoot, 'demo', manifest('demo-format', '1.1.0', 'demo'), 'good');
        const reloaded = await post(`${PLUGINS}/${demo.id}/reload`);
        expect(reloaded.status, reloaded.text).to.equal(200);
        expect(reloaded.json).to.include({ id: demo.id, version: '1.1.0', status: 'active' });
        expect(reloaded.json.runtime.pids).to.have.length(1);
        expect(reloaded.json.runtime.pids[0]).to.not.equal(demo.runtime.pids[0]);
        const [reloadEvent] = await events(demo.id, '?limit=1');
        expect(reloadEvent).to.include({ event_type: 'reloaded', severity: 'info', plugin_id: demo.id });
        expect(reloadEvent.details).to.include({ old_version: '1.0.0', new_version: '1.1.0' });
        const processes = (await get(`${PLUGINS}/${demo.id}/processes`)).json.items;
        expect(processes.map((p: any) => p.version)).to.deep.equal(['1.1.0']);

        // The folder now holds a component whose format-key() is not "demo".
        await pluginFolder(e2e.localRoot, 'demo', manifest('demo-format', '1.2.0', 'demo'), 'wrong-key');
        const failed = await post(`${PLUGINS}/${demo.id}/reload`, {});
        expectError(failed, 422, 'plugin_validation_failed');
        expect(failed.json.validation_errors).to.be.an('array').that.is.not.empty;
        const after = await get(`${PLUGINS}/${demo.id}`);
        expect(after.json).to.include({ version: '1.1.0', status: 'active' });
        expect(after.json.runtime.pids).to.deep.equal(reloaded.json.runtime.pids);
        const test = await testFormat('demo', DEMO_TEXT);
        expect(test.status, test.text).to.equal(200);
        expect(test.json.success).to.equal(true);
        const [failure] = await events(demo.id, '?limit=1');
        expect(failure).to.include({ event_type: 'reload_failed', severity: 'error' });

        // A git-only reload field is refused for a local plugin.
        expectError(await post(`${PLUGINS}/${demo.id}/reload`, { ref: 'main' }), 400, 'bad_request');
        expectError(await post(`${PLUGINS}/${demo.id}/reload`, { version: '2' }), 400, 'bad_request');
      });

      it('PUT /:id/limits restarts with the new limits; out of range is a 400', async function () {
        const demo = await installDemo();
        const updated = await call('PUT', `${PLUGINS}/${demo.id}/limits`, { body: { instances: 2 } });
        expect(updated.status, updated.text).to.equal(200);
        expect(updated.json.resource_limits).to.deep.equal({ memory_mb: 64, timeout_secs: 5, instances: 2 });
        expect(updated.json.runtime.instances).to.equal(2);
        expect(updated.json.runtime.pids).to.have.length(2);
        const processes = (await get(`${PLUGINS}/${demo.id}/processes`)).json.items;
        expect(processes.map((p: any) => p.pid)).to.have.members(updated.json.runtime.pids);
        expect(processes.every((p: any) => p.state === 'ready')).to.equal(true);
        expect(isAlive(demo.runtime.pids[0])).to.equal(false);
        expect((await testFormat('demo', DEMO_TEXT)).status).to.equal(200);
        expect((await get(`${PLUGINS}/${demo.id}`)).json.resource_limits.instances).to.equal(2);

        for (const body of [{ instances: 17 }, { instances: 0 }, { memory_mb: 0 }, { memory_mb: 1025 }, { timeout_secs: 301 }, { instances: 1.5 }, { instances: '2' }, { cpus: 2 }, {}]) {
          const bad = await call('PUT', `${PLUGINS}/${demo.id}/limits`, { body });
          expectError(bad, 400, 'bad_request');
          expect(bad.json.validation_errors, JSON.stringify(body)).to.have.length(1);
        }
        const unchanged = await get(`${PLUGINS}/${demo.id}`);
        expect(unchanged.json.resource_limits).to.deep.equal({ memory_mb: 64, timeout_secs: 5, instances: 2 });
        expect(unchanged.json.runtime.pids).to.deep.equal(updated.json.runtime.pids);
      });

      it('a plugin that cannot start with its limits: PUT limits 422 keeps it serving; enable 422 leaves status error', async function () {
        // 128 MiB of initial memory: installs with 256 MB, cannot start with 64 MB.
        const big = await installLocal('big', manifest('big-format', '1.0.0', 'big-mem', '\n[requirements]\nmax_memory_mb = 256\n'), 'big-initial-memory');
        expect(big.status, big.text).to.equal(201);
        expect(big.json.resource_limits.memory_mb).to.equal(256);

        const tooSmall = await call('PUT', `${PLUGINS}/${big.json.id}/limits`, { body: { memory_mb: 64 } });
        expect(tooSmall.status, tooSmall.text).to.equal(422);
        expect(tooSmall.json.message).to.contain('64');
        const still = await get(`${PLUGINS}/${big.json.id}`);
        expect(still.json).to.include({ status: 'active' });
        expect(still.json.resource_limits.memory_mb).to.equal(256);
        expect(still.json.runtime.pids).to.deep.equal(big.json.runtime.pids);
        expect((await testFormat('big-mem', 'x')).status).to.equal(200);

        expect((await post(`${PLUGINS}/${big.json.id}/disable`)).status).to.equal(200);
        const stored = await call('PUT', `${PLUGINS}/${big.json.id}/limits`, { body: { memory_mb: 64 } });
        expect(stored.status, stored.text).to.equal(200);
        expect(stored.json.resource_limits.memory_mb).to.equal(64);
        expect(stored.json.runtime.pids).to.deep.equal([]);
        const failed = await post(`${PLUGINS}/${big.json.id}/enable`);
        expectError(failed, 422, 'plugin_start_failed');
        const errored = await get(`${PLUGINS}/${big.json.id}`);
        expect(errored.json.status).to.equal('error');
        expect(errored.json.error_message).to.be.a('string').that.is.not.empty;
        expect(errored.json.runtime.pids).to.deep.equal([]);
        expect((await get(`${PLUGINS}?status=error`)).json.items.map((p: any) => p.id)).to.deep.equal([big.json.id]);
        expect((await events(big.json.id, '?severity=error&limit=1'))[0].event_type).to.equal('error');

        expect((await call('PUT', `${PLUGINS}/${big.json.id}/limits`, { body: { memory_mb: 256 } })).status).to.equal(200);
        const enabled = await post(`${PLUGINS}/${big.json.id}/enable`);
        expect(enabled.status, enabled.text).to.equal(200);
        expect(enabled.json).to.include({ status: 'active', error_message: null });
        expect((await testFormat('big-mem', 'x')).status).to.equal(200);
      });

      it('GET /:id/events: newest first, severity filter, limit', async function () {
        const demo = await installDemo();
        await post(`${PLUGINS}/${demo.id}/disable`);
        await post(`${PLUGINS}/${demo.id}/enable`);
        await pluginFolder(e2e.localRoot, 'demo', manifest('demo-format', '1.1.0', 'demo'), 'core-module');
        expect((await post(`${PLUGINS}/${demo.id}/reload`)).status).to.equal(422);

        const all = await events(demo.id);
        expect(all.map((e) => e.event_type)).to.deep.equal([
          'reload_failed',
          'format_handler_enabled',
          'enabled',
          'format_handler_disabled',
          'disabled',
          'format_handler_enabled',
          'enabled',
          'installed',
        ]);
        for (const event of all) {
          expect(event).to.include.all.keys('id', 'plugin_id', 'node_id', 'event_type', 'severity', 'message', 'details', 'created_at');
          expect(event.created_at).to.match(RFC3339_UTC);
        }
        const times = all.map((e) => Date.parse(e.created_at));
        expect(times).to.deep.equal([...times].sort((a, b) => b - a));
        expect(new Set(times).size, 'distinct timestamps').to.equal(times.length);

        const errors = await events(demo.id, '?severity=error');
        expect(errors.map((e) => e.event_type)).to.deep.equal(['reload_failed']);
        expect(errors[0].message).to.contain('1.0.0 keeps serving');
        const info = await events(demo.id, '?severity=info');
        expect(info).to.have.length(7);
        expect(await events(demo.id, '?severity=warning')).to.deep.equal([]);
        expect((await events(demo.id, '?limit=2')).map((e) => e.event_type)).to.deep.equal(['reload_failed', 'format_handler_enabled']);
        expect((await events(demo.id, '?severity=info&limit=1')).map((e) => e.event_type)).to.deep.equal(['format_handler_enabled']);
        expect(await events(demo.id, '?limit=100')).to.have.length(8);

        for (const query of ['severity=fatal', 'limit=0', 'limit=101', 'limit=ten']) {
          expectError(await get(`${PLUGINS}/${demo.id}/events?${query}`), 400, 'bad_request');
        }
      });

      it('DELETE /:id: 204, then the plugin, its format and its process are gone but its events remain', async function () {
        const demo = await installDemo();
        const [pid] = demo.runtime.pids;
        const removed = await call('DELETE', `${PLUGINS}/${demo.id}`);
        expect(removed.status).to.equal(204);
        expect(removed.text).to.equal('');

        expectError(await get(`${PLUGINS}/${demo.id}`), 404, 'not_found');
        expectError(await get(`${PLUGINS}/${demo.id}/processes`), 404, 'not_found');
        expectError(await get(`${FORMATS}/demo`), 404, 'not_found');
        expectError(await testFormat('demo', DEMO_TEXT), 404, 'not_found');
        expect(isAlive(pid)).to.equal(false);
        expect(await pluginTotal()).to.equal(0);

        const after = await events(demo.id);
        expect(after[0]).to.include({ event_type: 'uninstalled', plugin_id: demo.id });
        expect(after.map((e) => e.event_type)).to.include('installed');
        expectError(await call('DELETE', `${PLUGINS}/${demo.id}`), 404, 'not_found');
        expectError(await call('DELETE', `${PLUGINS}/${demo.id}?force=maybe`), 400, 'bad_request');

        // The same name and format key can be installed again.
        const again = await installDemo();
        expect(again.id).to.not.equal(demo.id);
      });

      it('answers every route under the /api/plugins alias the same way', async function () {
        const demo = await installDemo();
        const pairs = [
          '',
          '?status=active&per_page=5',
          `/${demo.id}`,
          `/${demo.id}/processes`,
          `/${demo.id}/events?limit=3`,
          '/not-a-uuid',
          `/${UNKNOWN_ID}`,
          '?per_page=101',
        ];
        for (const suffix of pairs) {
          const canonical = await get(`${PLUGINS}${suffix}`);
          const alias = await get(`/api/plugins${suffix}`);
          expect(alias.status, suffix).to.equal(canonical.status);
          // Processes' live samples (rss, cpu) move between two calls; the rest is identical.
          if (suffix.endsWith('/processes')) {
            expect(alias.json.items.map((p: any) => [p.pid, p.state])).to.deep.equal(canonical.json.items.map((p: any) => [p.pid, p.state]));
          } else if (canonical.status >= 400) {
            expect(alias.json.error, suffix).to.equal(canonical.json.error);
          } else {
            expect(alias.json, suffix).to.deep.equal(canonical.json);
          }
        }

        const disabled = await post(`/api/plugins/${demo.id}/disable`);
        expect(disabled.status).to.equal(200);
        expect(disabled.json.status).to.equal('disabled');
        const enabled = await post(`/api/plugins/${demo.id}/enable`);
        expect(enabled.json.status).to.equal('active');
        const limits = await call('PUT', `/api/plugins/${demo.id}/limits`, { body: { timeout_secs: 9 } });
        expect(limits.json.resource_limits.timeout_secs).to.equal(9);
        const zip = await pluginZip(manifest('alias-zip', '1.0.0', 'demo-v2'), 'good-v2');
        const installed = await post('/api/plugins/install/zip', form('zip', zip, 'a.zip'));
        expect(installed.status, installed.text).to.equal(201);
        expect((await call('DELETE', `/api/plugins/${installed.json.id}?force=true`)).status).to.equal(204);
        expect((await get(`${PLUGINS}/${installed.json.id}/events`)).json.items[0].event_type).to.equal('uninstalled');
      });
    });

    describe('formats', function () {
      it('lists the 13 core formats and the plugin\'s, with handler_type and enabled filters; a bad filter is a 400', async function () {
        const demo = await installDemo();
        const all = await get(FORMATS);
        expect(all.status).to.equal(200);
        expect(all.json.total).to.equal(14);
        expect(all.json.items.map((f: any) => f.format_key)).to.have.members([...CORE_FORMAT_KEYS, 'demo']);
        for (const item of all.json.items) {
          expect(item).to.include.all.keys(FORMAT_FIELDS);
          expect(item.created_at).to.match(RFC3339_UTC);
        }

        const wasm = await get(`${FORMATS}?handler_type=wasm`);
        expect(wasm.json.total).to.equal(1);
        expect(wasm.json.items[0]).to.include({
          format_key: 'demo',
          plugin_id: demo.id,
          handler_type: 'wasm',
          display_name: 'Demo',
          is_enabled: true,
          repository_count: 0,
        });
        expect(wasm.json.items[0].extensions).to.deep.equal(['.demo']);
        const core = await get(`${FORMATS}?handler_type=core`);
        expect(core.json.total).to.equal(13);
        expect(core.json.items.every((f: any) => f.plugin_id === null && f.handler_type === 'core')).to.equal(true);
        // The rows say what the compiled handlers do: only generic has no index.
        const withoutIndex = core.json.items.filter((f: any) => !f.capabilities.generate_index).map((f: any) => f.format_key);
        expect(withoutIndex).to.deep.equal(['generic']);

        await post(`${FORMATS}/demo/disable`);
        const off = await get(`${FORMATS}?enabled=false`);
        expect(off.json.items.map((f: any) => f.format_key)).to.deep.equal(['demo']);
        expect((await get(`${FORMATS}?enabled=true`)).json.total).to.equal(13);
        expect((await get(`${FORMATS}?enabled=false&handler_type=core`)).json).to.deep.equal({ items: [], total: 0 });

        for (const query of ['handler_type=plugin', 'enabled=yes', 'enabled=1']) {
          const bad = await get(`${FORMATS}?${query}`);
          expectError(bad, 400, 'bad_request');
          expect(bad.json.validation_errors[0].field).to.equal(query.split('=')[0]);
        }
        const alias = await get('/api/format-handlers?handler_type=wasm');
        expect(alias.json).to.deep.equal((await get(`${FORMATS}?handler_type=wasm`)).json);
      });

      it('get: the item, or 404; the alias answers the same', async function () {
        const demo = await installDemo();
        const format = await get(`${FORMATS}/demo`);
        expect(format.status).to.equal(200);
        expect(format.json).to.include.all.keys(FORMAT_FIELDS);
        expect(format.json).to.include({ format_key: 'demo', plugin_id: demo.id, priority: 0 });
        expect(format.json.capabilities).to.deep.equal(demo.capabilities);
        expect((await get('/api/format-handlers/demo')).json).to.deep.equal(format.json);
        expect((await get(`${FORMATS}/generic`)).json).to.include({ handler_type: 'core', plugin_id: null, is_enabled: true });
        for (const target of [`${FORMATS}/nope`, '/api/format-handlers/nope']) expectError(await get(target), 404, 'not_found');
        for (const action of ['enable', 'disable', 'test']) {
          expectError(await post(`${FORMATS}/nope/${action}`, { path: 'a', content: 'b' }), 404, 'not_found');
        }
      });

      it('tests an artifact through the plugin: JSON text, JSON base64 and multipart; a rejected artifact is a 422 result', async function () {
        await installDemo();
        const text = await testFormat('demo', DEMO_TEXT);
        expect(text.status, text.text).to.equal(200);
        expect(text.json).to.have.all.keys(TEST_RESULT_FIELDS);
        expect(text.json).to.include({ success: true, format_key: 'demo', handler_type: 'wasm', error: null });
        expect(text.json.metadata).to.deep.equal({
          path: 'dir/a.demo',
          version: byteSum(DEMO_TEXT),
          content_type: 'application/x-demo',
          size_bytes: DEMO_TEXT.length,
          checksum_sha256: null,
        });
        expect(text.json.validation_result).to.deep.equal({ valid: true, errors: [] });
        expect(text.json.execution_time_ms).to.be.a('number').at.least(0);
        expect(text.json.memory_used_bytes).to.be.a('number').greaterThan(0);

        const bytes = Buffer.from([0x44, 0x45, 0x4d, 0x4f, 0xff, 0x00, 0x80]); // "DEMO" + bytes that are not UTF-8
        const base64 = await post(`${FORMATS}/demo/test`, { path: 'b.demo', content: bytes.toString('base64'), base64: true });
        expect(base64.status, base64.text).to.equal(200);
        expect(base64.json.metadata).to.include({ path: 'b.demo', size_bytes: 7, version: String(bytes.reduce((s, b) => s + b, 0)) });

        const multipart = await post(`${FORMATS}/demo/test`, form('file', bytes, 'upload.demo', { path: 'c/d.demo' }));
        expect(multipart.status, multipart.text).to.equal(200);
        expect(multipart.json).to.include({ success: true, handler_type: 'wasm' });
        expect(multipart.json.metadata).to.include({ path: 'c/d.demo', size_bytes: 7 });
        expect(multipart.json.memory_used_bytes).to.be.a('number');
        const named = await post(`${FORMATS}/demo/test`, form('file', bytes, 'upload.demo'));
        expect(named.json.metadata.path).to.equal('upload.demo');

        const rejected = await testFormat('demo', 'nope');
        expect(rejected.status, rejected.text).to.equal(422);
        expect(rejected.json).to.include({ success: false, format_key: 'demo', metadata: null, error: 'bad magic: expected DEMO' });
        expect(rejected.json.validation_result).to.deep.equal({ valid: false, errors: ['bad magic: expected DEMO'] });
        expect(rejected.json.execution_time_ms).to.be.a('number');
        const empty = await testFormat('demo', '');
        expect(empty.status).to.equal(422);
        expect(empty.json.error).to.equal('empty artifact');

        for (const body of [{ path: 'a' }, { content: 'x' }, { path: 'a', content: '%%%', base64: true }, { path: 'a', content: 'x', extra: 1 }]) {
          expectError(await post(`${FORMATS}/demo/test`, body), 400, 'bad_request');
        }

        const core = await post(`${FORMATS}/generic/test`, { path: 'tool/tool-1.4.2.tar.gz', content: 'anything' });
        expect(core.status, core.text).to.equal(200);
        expect(core.json).to.include({ success: true, handler_type: 'core', memory_used_bytes: null });
        expect(core.json.metadata.version).to.equal('1.4.2');
        const alias = await post('/api/format-handlers/demo/test', { path: 'dir/a.demo', content: DEMO_TEXT });
        expect(alias.json.metadata).to.deep.equal(text.json.metadata);
      });

      it('disables and enables the plugin\'s format while the plugin keeps running', async function () {
        const demo = await installDemo();
        const disabled = await post(`${FORMATS}/demo/disable`);
        expect(disabled.status, disabled.text).to.equal(200);
        expect(disabled.json).to.include({ format_key: 'demo', is_enabled: false, plugin_id: demo.id });
        expectError(await testFormat('demo', DEMO_TEXT), 503, 'format_unavailable');
        expect((await get(`${FORMATS}/demo`)).json.is_enabled).to.equal(false);

        const plugin = await get(`${PLUGINS}/${demo.id}`);
        expect(plugin.json.status).to.equal('active');
        expect(plugin.json.runtime.pids).to.deep.equal(demo.runtime.pids);
        expect((await get(`${PLUGINS}/${demo.id}/processes`)).json.items).to.have.length(1);
        expect((await events(demo.id, '?limit=1'))[0].event_type).to.equal('format_handler_disabled');

        // Limits applied while the format is off keep it off.
        expect((await call('PUT', `${PLUGINS}/${demo.id}/limits`, { body: { timeout_secs: 3 } })).status).to.equal(200);
        expectError(await testFormat('demo', DEMO_TEXT), 503, 'format_unavailable');

        const enabled = await post('/api/format-handlers/demo/enable');
        expect(enabled.status, enabled.text).to.equal(200);
        expect(enabled.json.is_enabled).to.equal(true);
        const viaAlias = await post('/api/format-handlers/demo/disable');
        expect(viaAlias.json.is_enabled).to.equal(false);
        expect((await post(`${FORMATS}/demo/enable`)).json.is_enabled).to.equal(true);
        expect((await testFormat('demo', DEMO_TEXT)).status).to.equal(200);
        expect((await events(demo.id, '?limit=1'))[0].event_type).to.equal('format_handler_enabled');
      });

      it('refuses to disable the last enabled format (409) and re-enables core formats', async function () {
        await installDemo();
        for (const key of CORE_FORMAT_KEYS) {
          const off = await post(`${FORMATS}/${key}/disable`);
          expect(off.status, off.text).to.equal(200);
          expect(off.json.is_enabled).to.equal(false);
        }
        expectError(await post(`${FORMATS}/generic/test`, { path: 'a.txt', content: 'x' }), 503, 'format_unavailable');
        const last = await post(`${FORMATS}/demo/disable`);
        expectError(last, 409, 'last_enabled_format');
        expect((await get(`${FORMATS}?enabled=true`)).json.items.map((f: any) => f.format_key)).to.deep.equal(['demo']);
        // Disabling a format that is already off is not refused.
        expect((await post(`${FORMATS}/maven/disable`)).status).to.equal(200);

        for (const key of CORE_FORMAT_KEYS) {
          const on = await post(`${FORMATS}/${key}/enable`);
          expect(on.status, `${key}: ${on.text}`).to.equal(200);
          expect(on.json.is_enabled).to.equal(true);
        }
        expect((await post(`${FORMATS}/generic/test`, { path: 'a.txt', content: 'x' })).status).to.equal(200);
        expect((await get(`${FORMATS}?enabled=true`)).json.total).to.equal(14);
      });

      it('refuses to enable a format whose plugin is disabled (409)', async function () {
        const demo = await installDemo();
        await post(`${PLUGINS}/${demo.id}/disable`);
        const refused = await post(`${FORMATS}/demo/enable`);
        expect(refused.status, refused.text).to.equal(409);
        expect(refused.json.error).to.equal('plugin_not_active');
        expect((await get(`${FORMATS}/demo`)).json.is_enabled).to.equal(false);
        expectError(await testFormat('demo', DEMO_TEXT), 503, 'format_unavailable');
      });
    });

    describe('plugin failures through the format test', function () {
      it('a plugin running past its 1 s limit is a 504 naming 1000 ms, and its process is replaced', async function () {
        const loop = await installLocal('loop', manifest('loop-format', '1.0.0', 'loop', '\n[requirements]\ntimeout_secs = 1\n'), 'loop');
        expect(loop.status, loop.text).to.equal(201);
        expect(loop.json.resource_limits.timeout_secs).to.equal(1);
        const [pid] = loop.json.runtime.pids;

        const started = Date.now();
        const timedOut = await testFormat('loop', 'anything', 'a.loop');
        expect(Date.now() - started).to.be.below(10_000);
        expectError(timedOut, 504, 'plugin_timeout');
        expect(timedOut.json.message).to.contain('1000 ms');
        expect(isAlive(pid)).to.equal(false);

        const replaced = await eventually(async () => {
          const items = (await get(`${PLUGINS}/${loop.json.id}/processes`)).json.items;
          return items.length === 1 && items[0].state === 'ready' && items[0].pid !== pid;
        });
        expect(replaced, 'a new ready process').to.equal(true);
        expect((await get(`${PLUGINS}/${loop.json.id}`)).json.status).to.equal('active');
      });

      it('a trap is a 502 plugin_crashed, and the next call runs on a fresh instance', async function () {
        const trap = await installLocal('trap', manifest('trap-format', '1.0.0', 'trap'), 'trap');
        expect(trap.status, trap.text).to.equal(201);
        const first = await testFormat('trap', 'abc', 'a.trap');
        expect(first.json.metadata.version).to.equal('1');

        expectError(await testFormat('trap', 'TRAP', 'a.trap'), 502, 'plugin_crashed');
        const next = await testFormat('trap', 'abc', 'a.trap');
        expect(next.status, next.text).to.equal(200);
        // A fresh instance counts from 1 again.
        expect(next.json.metadata.version).to.equal('1');
        expect((await get(`${PLUGINS}/${trap.json.id}`)).json.status).to.equal('active');
        const recorded = await eventually(async () => (await events(trap.json.id)).some((e) => e.event_type === 'crashed'));
        expect(recorded, 'a crashed event').to.equal(true);
        const [crash] = await events(trap.json.id, '?severity=error');
        expect(crash.event_type).to.equal('crashed');
      });

      it('five process deaths outside calls quarantine the plugin on its node: status error, format unavailable, until it is enabled again', async function () {
        const trap = await installLocal('trap', manifest('trap-format', '1.0.0', 'trap'), 'trap');
        expect(trap.status, trap.text).to.equal(201);
        // Traps inside calls are the caller's 502 and never count: a client's input causes them.
        for (let i = 0; i < 6; i++) expectError(await testFormat('trap', 'TRAP', 'a.trap'), 502, 'plugin_crashed');
        expect((await get(`${PLUGINS}/${trap.json.id}`)).json.status).to.equal('active');
        let pid: number | undefined;
        for (let i = 0; i < 5; i++) {
          const previous = pid;
          const restarted = await eventually(async () => {
            pid = (await get(`${PLUGINS}/${trap.json.id}/processes`)).json.items[0]?.pid ?? previous;
            return pid !== previous;
          }, 10_000);
          expect(restarted, 'a new process').to.equal(true);
          process.kill(pid!, 'SIGKILL');
        }
        const quarantined = await eventually(async () => (await get(`${PLUGINS}/${trap.json.id}`)).json.status === 'error');
        expect(quarantined, 'status error').to.equal(true);
        const plugin = (await get(`${PLUGINS}/${trap.json.id}`)).json;
        expect(plugin.error_message).to.contain('quarantined');
        expect(plugin.nodes.map((node: any) => node.state)).to.deep.equal(['quarantined']);
        expectError(await testFormat('trap', 'abc', 'a.trap'), 503, 'format_unavailable');
        // A crash loop is this node's state, never the admin's desired state.
        expect((await get(`${FORMATS}/trap`)).json.is_enabled).to.equal(true);
        const recorded = await events(trap.json.id);
        expect(recorded.map((e) => e.event_type)).to.include.members(['crashed', 'quarantined']);
        expect(recorded.find((e) => e.event_type === 'quarantined').node_id).to.be.a('string').that.is.not.empty;

        const enabled = await post(`${PLUGINS}/${trap.json.id}/enable`);
        expect(enabled.status, enabled.text).to.equal(200);
        expect(enabled.json.status).to.equal('active');
        const works = await testFormat('trap', 'abc', 'a.trap');
        expect(works.status, works.text).to.equal(200);
        expect(works.json.metadata.version).to.equal('1');
      });
    });

    describe('restart', function () {
      it('a new supervisor on the same data starts the installed plugins again', async function () {
        const demo = await installDemo();
        const v2 = await installLocal('v2', manifest('demo-v2-format', '1.0.0', 'demo-v2'), 'good-v2');
        expect((await post(`${PLUGINS}/${v2.json.id}/disable`)).status).to.equal(200);
        await post(`${FORMATS}/maven/disable`);
        const [pid] = demo.runtime.pids;

        await e2e.restart();
        expect(isAlive(pid)).to.equal(false);
        expect((await call('GET', '/ready', { anonymous: true })).status).to.equal(200);
        const plugin = await get(`${PLUGINS}/${demo.id}`);
        expect(plugin.status).to.equal(200);
        expect(plugin.json).to.include({ status: 'active', version: '1.0.0', error_message: null });
        expect(plugin.json.runtime.state).to.equal('running');
        expect(plugin.json.runtime.pids).to.have.length(1);
        expect(plugin.json.runtime.pids[0]).to.not.equal(pid);
        expect(isAlive(plugin.json.runtime.pids[0])).to.equal(true);
        const test = await testFormat('demo', DEMO_TEXT);
        expect(test.status, test.text).to.equal(200);
        expect(test.json.metadata.version).to.equal(byteSum(DEMO_TEXT));
        expect((await get(`${FORMATS}/maven`)).json.is_enabled).to.equal(false);
        const stopped = await get(`${PLUGINS}/${v2.json.id}`);
        expect(stopped.json.status).to.equal('disabled');
        expect(stopped.json.runtime.pids).to.deep.equal([]);
        expectError(await testFormat('demo-v2', DEMO_TEXT), 503, 'format_unavailable');
        const health = await call('GET', '/health', { anonymous: true });
        expect(health.json.checks.plugins).to.include({ ok: true, active: 1, running: 1 });
      });
    });
  });
}
