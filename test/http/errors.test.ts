import { expect } from 'chai';
import { ArtifactInvalid, FormatUnavailable, PluginCrashed, PluginMemoryExceeded, PluginTimeout } from '../../supervisor/runtime/errors.js';
import { Busy, ServiceError, badRequest, conflict, gatewayTimeout, notFound, payloadTooLarge, validationFailed } from '../../supervisor/services/errors.js';
import { DatabaseUnavailable } from '../../supervisor/store/store.js';
import { PLUGIN_ID } from './doubles.js';
import { startHarness, type Harness } from './harness.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('http: errors, request ids, logs, probes', () => {
  let h: Harness;

  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());
  beforeEach(() => h.reset());

  describe('service errors are sent as the service built them', () => {
    const cases: [string, ServiceError, Record<string, unknown>][] = [
      ['400', badRequest('url must use https'), { error: 'bad_request', message: 'url must use https' }],
      ['404', notFound('no plugin has id x'), { error: 'not_found', message: 'no plugin has id x' }],
      [
        '409 plugin_already_exists',
        conflict('plugin_already_exists', 'unity is installed', { existing_plugin_id: PLUGIN_ID }),
        { error: 'plugin_already_exists', message: 'unity is installed', existing_plugin_id: PLUGIN_ID },
      ],
      [
        '409 dependency_conflict',
        conflict('dependency_conflict', 'repositories use unity', { dependent_repositories: [{ id: 'r1', key: 'games' }] }),
        { error: 'dependency_conflict', message: 'repositories use unity', dependent_repositories: [{ id: 'r1', key: 'games' }] },
      ],
      ['413', payloadTooLarge('too big'), { error: 'payload_too_large', message: 'too big' }],
      [
        '422',
        validationFailed('plugin_validation_failed', '2 problems', [
          { field: 'plugin.name', message: 'missing' },
          { field: 'plugin.wasm', message: 'not found' },
        ]),
        {
          error: 'plugin_validation_failed',
          message: '2 problems',
          validation_errors: [
            { field: 'plugin.name', message: 'missing' },
            { field: 'plugin.wasm', message: 'not found' },
          ],
        },
      ],
      ['504', gatewayTimeout('git_timeout', 'clone ran past 60 s'), { error: 'git_timeout', message: 'clone ran past 60 s' }],
      ['extras cannot replace code or message', new ServiceError(409, 'format_key_conflict', 'owned', { error: 'x', message: 'y', owner: 'npm' }), { error: 'format_key_conflict', message: 'owned', owner: 'npm' }],
    ];
    for (const [what, error, body] of cases) {
      it(what, async () => {
        h.plugins.failure = error;
        const answer = await h.call('POST', '/api/v1/plugins/install/git', { body: { url: 'https://git.example/p.git' } });
        expect(answer.status).to.equal(error.status);
        expect(answer.headers.get('content-type')).to.match(/^application\/json/);
        expect(answer.json).to.deep.equal(body);
      });
    }
  });

  it('a busy service answers 503 with Retry-After', async () => {
    h.plugins.failure = new Busy('plugin_busy', 'the unity plugin has 8 native requests in line already', 2);
    const answer = await h.call('POST', '/api/v1/plugins/install/git', { body: { url: 'https://git.example/p.git' } });
    expect(answer.status).to.equal(503);
    expect(answer.headers.get('retry-after')).to.equal('2');
    expect(answer.json).to.deep.equal({ error: 'plugin_busy', message: 'the unity plugin has 8 native requests in line already', retry_after_seconds: 2 });
  });

  describe('plugin failures get the status of the contract table', () => {
    const cases: [Error, number, string, string][] = [
      [new ArtifactInvalid('manifest.json is missing'), 422, 'artifact_invalid', 'manifest.json is missing'],
      [new PluginTimeout(5000), 504, 'plugin_timeout', '5000 ms'],
      [new PluginMemoryExceeded(64), 507, 'plugin_memory_exceeded', '64 MB'],
      [new PluginCrashed('the plugin process exited with signal SIGSEGV'), 502, 'plugin_crashed', 'SIGSEGV'],
      [new FormatUnavailable('unity is quarantined'), 503, 'format_unavailable', 'quarantined'],
    ];
    for (const [failure, status, code, named] of cases) {
      it(`${code} → ${status}`, async () => {
        h.formats.failure = failure;
        const answer = await h.call('POST', '/api/v1/formats/unity/test', { body: { path: 'a', content: 'x' } });
        expect(answer.status).to.equal(status);
        expect(answer.json.error).to.equal(code);
        expect(answer.json.message).to.include(named);
      });
    }
  });

  it('an unreachable database → 503 database_unavailable, without its location', async () => {
    h.plugins.failure = new DatabaseUnavailable('postgres://secret-host:5432 did not answer');
    const answer = await h.call('GET', '/api/v1/plugins');
    expect(answer.status).to.equal(503);
    expect(answer.json.error).to.equal('database_unavailable');
    expect(answer.text).not.to.include('secret-host');
  });

  it('an unexpected error → 500 internal_error naming the request id, logged under it', async () => {
    h.plugins.failure = new TypeError("Cannot read properties of undefined (reading 'wasm')");
    const answer = await h.call('GET', '/api/v1/plugins', { headers: { 'x-request-id': 'req-500' } });
    expect(answer.status).to.equal(500);
    expect(answer.json.error).to.equal('internal_error');
    expect(answer.json.message).to.include('req-500');
    expect(answer.text).not.to.include('wasm');
    const logged = h.logLines.find((line) => line.msg === 'unhandled error');
    expect(logged?.req_id).to.equal('req-500');
    expect(logged?.err.message).to.include("reading 'wasm'");
  });

  it('an unknown route → 404 not_found JSON', async () => {
    const answer = await h.call('GET', '/api/v1/repositoriez');
    expect(answer.status).to.equal(404);
    expect(answer.json).to.deep.equal({ error: 'not_found', message: 'there is no GET /api/v1/repositoriez' });
  });

  it('a method the route does not have → 405 JSON with Allow', async () => {
    const answer = await h.call('PATCH', `/api/v1/plugins/${PLUGIN_ID}`);
    expect(answer.status).to.equal(405);
    expect(answer.json.error).to.equal('method_not_allowed');
    expect(answer.json.allowed).to.have.members(['HEAD', 'GET', 'DELETE']);
    expect(answer.headers.get('allow')).to.include('DELETE');
  });

  describe('request ids', () => {
    it('echoes the caller’s X-Request-Id', async () => {
      const answer = await h.call('GET', '/api/v1/plugins', { headers: { 'x-request-id': 'abc-123.x:y' } });
      expect(answer.headers.get('x-request-id')).to.equal('abc-123.x:y');
    });

    it('makes one when there is none, on errors too', async () => {
      const answer = await h.call('GET', '/api/v1/plugins', { as: 'anonymous' });
      expect(answer.status).to.equal(401);
      expect(answer.headers.get('x-request-id')).to.match(UUID);
    });

    it('replaces one that could forge log lines', async () => {
      const answer = await h.call('GET', '/health', { headers: { 'x-request-id': 'a b"c' } });
      expect(answer.headers.get('x-request-id')).to.match(UUID);
    });
  });

  it('logs one JSON line per request', async () => {
    await h.call('GET', '/api/v1/plugins?page=2', { headers: { 'x-request-id': 'log-1' } });
    const lines = h.logLines.filter((line) => line.msg === 'request');
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include({ req_id: 'log-1', method: 'GET', path: '/api/v1/plugins', status: 200, role: 'admin' });
    expect(lines[0]!.ms).to.be.a('number');
  });

  it("carries a failed request's error code in its access line", async () => {
    await h.call('GET', '/api/v1/plugins/not-a-uuid', { headers: { 'x-request-id': 'log-2' } });
    await h.call('GET', '/api/v1/nowhere', { headers: { 'x-request-id': 'log-3' } });
    await h.call('GET', '/api/v1/plugins', { as: 'anonymous', headers: { 'x-request-id': 'log-4' } });
    const line = (id: string) => h.logLines.find((l) => l.msg === 'request' && l.req_id === id);
    expect(line('log-2')).to.include({ status: 400, error: 'bad_request' });
    expect(line('log-3')).to.include({ status: 404, error: 'not_found' });
    expect(line('log-4')).to.include({ status: 401, error: 'unauthorized' });
    expect(line('log-1') ?? {}).to.not.have.property('error');
  });

  describe('probes', () => {
    it('GET /health → 200 {status, checks}', async () => {
      const answer = await h.call('GET', '/health', { as: 'anonymous' });
      expect(answer.status).to.equal(200);
      expect(answer.json.status).to.equal('ok');
      expect(answer.json.checks.database).to.deep.equal({ ok: true });
    });

    it('GET /health → 503 when the database check fails', async () => {
      h.health.databaseOk = false;
      const answer = await h.call('GET', '/health', { as: 'anonymous' });
      expect(answer.status).to.equal(503);
      expect(answer.json.status).to.equal('degraded');
      expect(answer.json.checks.database.ok).to.equal(false);
    });

    it('GET /ready → 200, or 503 during start-up and while stopping', async () => {
      expect((await h.call('GET', '/ready', { as: 'anonymous' })).json).to.deep.equal({ status: 'ready' });
      for (const state of ['starting', 'stopping'] as const) {
        h.health.readinessState = state;
        const answer = await h.call('GET', '/ready', { as: 'anonymous' });
        expect(answer.status).to.equal(503);
        expect(answer.json).to.deep.equal({ status: state });
      }
    });

    it('GET /health shows the cluster check', async () => {
      const answer = await h.call('GET', '/health', { as: 'anonymous' });
      expect(answer.json.checks.cluster).to.deep.equal({ ok: true, nodes_up: 2, nodes_lost: 1 });
    });
  });
});
