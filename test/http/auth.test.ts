import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import Koa from 'koa';
import { pino } from 'pino';
import { authenticate } from '../../supervisor/http/auth.js';
import { errorHandler } from '../../supervisor/http/errors.js';
import type { AppState } from '../../supervisor/http/state.js';
import { PLUGIN_ID } from './doubles.js';
import { ADMIN_PASSWORD, ADMIN_TOKEN, basic, startHarness, type Harness } from './harness.js';

describe('http: authentication and roles', () => {
  let h: Harness;

  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());
  beforeEach(() => h.reset());

  const expect401 = (answer: { status: number; headers: Headers; json: any }, code = 'unauthorized') => {
    expect(answer.status).to.equal(401);
    expect(answer.headers.get('www-authenticate')).to.equal('Bearer, Basic');
    expect(answer.json.error).to.equal(code);
    expect(answer.json.message).to.be.a('string').and.not.empty;
  };

  describe('anonymous', () => {
    const attempts: [string, string][] = [
      ['GET', '/api/v1/plugins'],
      ['GET', `/api/plugins/${PLUGIN_ID}`],
      ['POST', '/api/v1/plugins/install/git'],
      ['DELETE', `/api/v1/plugins/${PLUGIN_ID}`],
      ['PUT', `/api/plugins/${PLUGIN_ID}/limits`],
      ['GET', '/api/v1/formats'],
      ['POST', '/api/format-handlers/npm/disable'],
      ['GET', '/api/v1/openapi.json'],
      // Routes that do not exist, and methods no route has: still 401, never 404/405.
      ['GET', '/api/v1/nothing-here'],
      ['PATCH', '/api/v1/plugins'],
      ['OPTIONS', '/api/v1/plugins'],
      ['DELETE', '/api'],
      ['GET', '/API/V1/PLUGINS'],
    ];
    for (const [method, path] of attempts) {
      it(`${method} ${path} → 401 with WWW-Authenticate`, async () => {
        expect401(await h.call(method, path, { as: 'anonymous' }));
        expect(h.plugins.calls).to.be.empty;
        expect(h.formats.calls).to.be.empty;
      });
    }

    it('needs nothing for /health and /ready', async () => {
      expect((await h.call('GET', '/health', { as: 'anonymous' })).status).to.equal(200);
      expect((await h.call('GET', '/ready', { as: 'anonymous' })).status).to.equal(200);
    });
  });

  describe('credentials', () => {
    it('accepts ADMIN_TOKEN as a bearer token', async () => {
      expect((await h.call('POST', `/api/v1/plugins/${PLUGIN_ID}/enable`, { as: { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } } })).status).to.equal(200);
    });

    it('accepts a stored token in X-Api-Key', async () => {
      expect((await h.call('POST', `/api/v1/plugins/${PLUGIN_ID}/enable`, { as: { headers: { 'x-api-key': h.adminToken } } })).status).to.equal(200);
    });

    it('accepts the scheme name in any case', async () => {
      expect((await h.call('GET', '/api/v1/plugins', { as: { headers: { authorization: `bearer ${h.readerToken}` } } })).status).to.equal(200);
    });

    it('accepts HTTP Basic admin:<ADMIN_PASSWORD>', async () => {
      expect((await h.call('DELETE', `/api/v1/plugins/${PLUGIN_ID}`, { as: { headers: { authorization: basic('admin', ADMIN_PASSWORD) } } })).status).to.equal(204);
    });

    it('accepts HTTP Basic with any user name and a token as the password', async () => {
      const asUser = { headers: { authorization: basic('ci-bot', h.readerToken) } };
      expect((await h.call('GET', '/api/v1/plugins', { as: asUser })).status).to.equal(200);
      // ...with that token's role.
      expect((await h.call('POST', `/api/v1/plugins/${PLUGIN_ID}/enable`, { as: asUser })).status).to.equal(403);
    });

    const rejected: [string, Record<string, string>][] = [
      ['an unknown bearer token', { authorization: 'Bearer pk_not-a-token' }],
      ['an unknown X-Api-Key', { 'x-api-key': 'pk_not-a-token' }],
      ['the admin password with another user name', { authorization: basic('root', ADMIN_PASSWORD) }],
      ['admin with a wrong password', { authorization: basic('admin', 'wrong') }],
      ['Basic without a colon', { authorization: `Basic ${Buffer.from('admin').toString('base64')}` }],
      ['an unsupported scheme', { authorization: `Token ${ADMIN_TOKEN}` }],
      ['an Authorization header without a value', { authorization: 'Bearer' }],
    ];
    for (const [what, headers] of rejected) {
      it(`rejects ${what} → 401 invalid_credentials`, async () => {
        expect401(await h.call('GET', '/api/v1/plugins', { as: { headers } }), 'invalid_credentials');
        expect(h.plugins.calls).to.be.empty;
      });
    }

    it('rejects bad credentials on unknown paths too, and on public ones lets them pass', async () => {
      expect401(await h.call('GET', '/api/v1/nothing', { as: { headers: { authorization: 'Bearer nope' } } }), 'invalid_credentials');
      expect((await h.call('GET', '/health', { as: { headers: { authorization: 'Bearer nope' } } })).status).to.equal(200);
    });

    it('rejects a revoked token', async () => {
      const created = await h.tokens.create({ role: 'admin', name: 'short-lived' });
      const asIt = { headers: { authorization: `Bearer ${created.token}` } };
      expect((await h.call('GET', '/api/v1/plugins', { as: asIt })).status).to.equal(200);
      expect(await h.tokens.revoke(created.id)).to.equal(true);
      expect401(await h.call('GET', '/api/v1/plugins', { as: asIt }), 'invalid_credentials');
    });

    it('Authorization wins over X-Api-Key', async () => {
      const answer = await h.call('POST', `/api/v1/plugins/${PLUGIN_ID}/enable`, {
        as: { headers: { authorization: `Bearer ${h.readerToken}`, 'x-api-key': ADMIN_TOKEN } },
      });
      expect(answer.status).to.equal(403);
    });
  });

  describe('reader role', () => {
    const reads = [
      '/api/v1/plugins',
      '/api/plugins',
      `/api/v1/plugins/${PLUGIN_ID}`,
      `/api/v1/plugins/${PLUGIN_ID}/events`,
      `/api/plugins/${PLUGIN_ID}/processes`,
      '/api/v1/formats',
      '/api/format-handlers/npm',
      '/api/v1/openapi.json',
    ];
    for (const path of reads) {
      it(`may GET ${path}`, async () => {
        expect((await h.call('GET', path, { as: 'reader' })).status).to.equal(200);
      });
    }

    const mutations: [string, string][] = [
      ['POST', '/api/v1/plugins/install/git'],
      ['POST', '/api/plugins/install/zip'],
      ['POST', `/api/v1/plugins/${PLUGIN_ID}/enable`],
      ['POST', `/api/v1/plugins/${PLUGIN_ID}/reload`],
      ['PUT', `/api/v1/plugins/${PLUGIN_ID}/limits`],
      ['DELETE', `/api/plugins/${PLUGIN_ID}`],
      ['POST', '/api/v1/formats/npm/disable'],
      ['POST', '/api/format-handlers/npm/test'],
    ];
    for (const [method, path] of mutations) {
      it(`may not ${method} ${path} → 403 forbidden`, async () => {
        const answer = await h.call(method, path, { as: 'reader', body: {} });
        expect(answer.status).to.equal(403);
        expect(answer.json.error).to.equal('forbidden');
        expect(answer.headers.get('www-authenticate')).to.equal(null);
        expect(h.plugins.calls).to.be.empty;
        expect(h.formats.calls).to.be.empty;
      });
    }
  });

  describe('the allowAnonymous hook (for public repositories, later)', () => {
    let server: Server;
    let base: string;

    before(async () => {
      const app = new Koa<AppState>();
      app.use(errorHandler(pino({ level: 'silent' })));
      app.use(authenticate({ verifier: h.tokens, allowAnonymous: (ctx) => ctx.path.startsWith('/ext/public/') }));
      app.use((ctx) => {
        ctx.body = { principal: ctx.state.principal ?? null };
      });
      server = app.listen(0, '127.0.0.1');
      await new Promise<void>((resolve) => server.once('listening', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('lets an anonymous request through with no principal where it says so', async () => {
      const answer = await fetch(`${base}/ext/public/x`);
      expect(answer.status).to.equal(200);
      expect(await answer.json()).to.deep.equal({ principal: null });
    });

    it('still checks credentials that are sent', async () => {
      expect((await fetch(`${base}/ext/public/x`, { headers: { authorization: 'Bearer nope' } })).status).to.equal(401);
      const answer = await fetch(`${base}/ext/public/x`, { headers: { authorization: `Bearer ${h.readerToken}` } });
      expect((await answer.json()).principal.role).to.equal('reader');
    });

    it('answers 401 elsewhere', async () => {
      expect((await fetch(`${base}/ext/private/x`)).status).to.equal(401);
    });
  });

  it('logs the principal role of each request', async () => {
    await h.call('GET', '/api/v1/plugins', { as: 'reader' });
    await h.call('GET', '/api/v1/plugins', { as: 'anonymous' });
    expect(h.logLines.filter((line) => line.msg === 'request').map((line) => [line.status, line.role])).to.deep.equal([
      [200, 'reader'],
      [401, 'anonymous'],
    ]);
  });
});
