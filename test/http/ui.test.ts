// The dashboard's files as plain HTTP (the page itself is tested in a browser in
// test/ui/dashboard.test.ts): what a build that lost them answers, and HEAD.
import { expect } from 'chai';
import Koa from 'koa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { errorHandler } from '../../supervisor/http/errors.js';
import { UI_CONTENT_SECURITY_POLICY, uiRoutes } from '../../supervisor/http/routes/ui.js';
import type { AppState } from '../../supervisor/http/state.js';

describe('http: the dashboard files (/ui)', () => {
  let dir: string;
  let server: ReturnType<Koa['listen']>;
  let base: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pk-ui-'));
    const app = new Koa<AppState>();
    app.use(errorHandler(pino({ level: 'silent' })));
    app.use(uiRoutes(dir));
    app.use((ctx) => {
      ctx.body = { passed: ctx.path };
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers 503 naming the build step while the bundle is missing, then serves it once built', async () => {
    const missing = await fetch(`${base}/ui/app.js`);
    expect(missing.status).to.equal(503);
    const body = await missing.json();
    expect(body.error).to.equal('dashboard_not_built');
    expect(body.message).to.include('npm run build');

    await writeFile(path.join(dir, 'app.js'), 'export {};\n');
    const built = await fetch(`${base}/ui/app.js`);
    expect([built.status, built.headers.get('content-type'), await built.text()]).to.deep.equal([200, 'text/javascript; charset=utf-8', 'export {};\n']);
    expect(built.headers.get('content-security-policy')).to.equal(UI_CONTENT_SECURITY_POLICY);
    expect(built.headers.get('cache-control')).to.equal('no-cache');
  });

  it('answers HEAD without a body, and leaves every other path to the routes after it', async () => {
    await writeFile(path.join(dir, 'index.html'), '<!doctype html>');
    const head = await fetch(`${base}/ui`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-type'), await head.text()]).to.deep.equal([200, 'text/html; charset=utf-8', '']);
    for (const other of ['/uix', '/api/v1/ui', '/']) {
      expect(await (await fetch(base + other)).json()).to.deep.equal({ passed: other });
    }
    expect((await fetch(`${base}/ui/index.html`)).status).to.equal(404); // only the page's own names
  });
});
