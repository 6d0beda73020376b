// The dashboard (/ui) as a person uses it, in a real headless Chromium (Debian's package,
// driven by playwright-core) against a real supervisor with a real plugin process: sign in
// with a token, watch the process and its numbers live, disable and enable the plugin from
// the page, see a kill -9 show up as an exit with its reason, see the server's refusal as a
// sentence; a reader sees no admin action; the page asks nothing of any other origin.
// Screenshots go to test-output/screenshots/ (their paths are printed).
import { expect } from 'chai';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { postgresFixture, sqliteFixture } from '../support/engines.js';
import { repoRoot } from '../support/fixtures.js';
import { eventually, manifest, pluginFolder, startE2E, type E2E } from '../e2e/harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOTS = path.join(repoRoot, 'test-output', 'screenshots');
const PLUGINS = '/api/v1/plugins';
/** Live data is read every 1.5 s: anything the page must show appears within a few rounds. */
const LIVE_MS = 15_000;

interface Session {
  context: BrowserContext;
  page: Page;
  /** Every URL the page asked for. */
  requests: string[];
  /** Requests that failed, 5xx answers, console errors (CSP refusals among them) and uncaught errors. */
  problems: string[];
}

// The walk-through and the reader's view read and change state in the database: they run on
// both engines. What does not touch the database (the static files, the narrow layout) runs once.
for (const engine of [sqliteFixture(), postgresFixture()]) {
  /** A test that does not depend on the engine: registered on the first one only. */
  const once = (title: string, test: Mocha.AsyncFunc) => (engine.engine === 'sqlite' ? it(title, test) : undefined);
  describe(`dashboard (/ui) in headless Chromium (${engine.engine})`, function () {
    this.timeout(180_000);
    let e2e: E2E;
    let browser: Browser;
    let pluginId: string;
    const sessions: Session[] = [];

    const api = async (method: string, target: string, body?: unknown) => {
      const answer = await e2e.call(method, target, body === undefined ? {} : { body });
      expect(answer.status, `${method} ${target}: ${answer.text}`).to.be.below(300);
      return answer.json;
    };
    const processes = async (): Promise<any[]> => (await api('GET', `${PLUGINS}/${pluginId}/processes`)).items;

    async function open(viewport: { width: number; height: number }): Promise<Session> {
      const context = await browser.newContext({ viewport });
      const page = await context.newPage();
      const session: Session = { context, page, requests: [], problems: [] };
      page.on('request', (request) => session.requests.push(request.url()));
      page.on('requestfailed', (request) => session.problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));
      page.on('response', (response) => {
        if (response.status() >= 500) session.problems.push(`answered ${response.status()}: ${response.url()}`);
      });
      page.on('console', (message) => {
        // Chromium logs every 4xx answer as a failed resource: the steps that want a refusal get
        // one. Anything else (a CSP refusal, a script error) is a problem.
        if (message.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())) {
          session.problems.push(`console: ${message.text()}`);
        }
      });
      page.on('pageerror', (error) => session.problems.push(`page error: ${error.message}`));
      sessions.push(session);
      await page.goto(`${e2e.url}/ui`);
      return session;
    }

    async function signIn(page: Page, token: string): Promise<void> {
      await page.getByLabel('API token').fill(token);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('#role').waitFor();
    }

    async function screenshot(page: Page, name: string): Promise<void> {
      const file = path.join(SCREENSHOTS, `${name}-${engine.engine}.png`);
      await page.screenshot({ path: file, fullPage: true });
      console.log(`      screenshot: ${path.relative(process.cwd(), file)}`);
    }

    /** Only the supervisor was asked for anything, and nothing failed. */
    function expectOnlyOrigin(session: Session): void {
      expect(session.requests.length).to.be.above(0);
      for (const url of session.requests) expect(new URL(url).origin, url).to.equal(e2e.url);
      expect(session.problems).to.deep.equal([]);
    }

    const processRow = (page: Page, pid: number) => page.locator(`table.processes tr[data-pid="${pid}"]`);

    before(async function () {
      await mkdir(SCREENSHOTS, { recursive: true });
      e2e = await startE2E(engine);
      const dir = await pluginFolder(e2e.localRoot, 'demo', manifest('demo-format', '1.0.0', 'demo'), 'good');
      pluginId = (await api('POST', `${PLUGINS}/install/local`, { path: dir })).id;
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-default-apps'],
      });
    });

    after(async function () {
      for (const session of sessions) await session.context.close().catch(() => undefined);
      await browser?.close();
      await e2e?.close();
      await engine?.dispose();
    });

    once('serves its three files without credentials, typed, with a CSP that allows only its own origin', async function () {
      const page = await e2e.call('GET', '/ui', { anonymous: true });
      expect(page.status).to.equal(200);
      expect(page.headers.get('content-type')).to.equal('text/html; charset=utf-8');
      const csp = page.headers.get('content-security-policy') ?? '';
      expect(csp).to.include("default-src 'none'").and.include("script-src 'self'").and.include("connect-src 'self'");
      expect(csp).not.to.include('unsafe-inline');
      expect(page.headers.get('x-content-type-options')).to.equal('nosniff');
      // No inline script: every <script> names its file.
      expect(page.text.match(/<script\b[^>]*>/g)).to.deep.equal(['<script type="module" src="/ui/app.js">']);
      expect((await e2e.call('GET', '/ui/', { anonymous: true })).status).to.equal(200);
      const script = await e2e.call('GET', '/ui/app.js', { anonymous: true });
      expect([script.status, script.headers.get('content-type')]).to.deep.equal([200, 'text/javascript; charset=utf-8']);
      const style = await e2e.call('GET', '/ui/style.css', { anonymous: true });
      expect([style.status, style.headers.get('content-type')]).to.deep.equal([200, 'text/css; charset=utf-8']);
      expect(style.text).to.include('.u-legend'); // uPlot's own sheet, bundled

      const missing = await e2e.call('GET', '/ui/secrets.json', { anonymous: true });
      expect([missing.status, missing.json.error]).to.deep.equal([404, 'not_found']);
      const posted = await e2e.call('POST', '/ui', { anonymous: true, body: {} });
      expect([posted.status, posted.json.error, posted.headers.get('allow')]).to.deep.equal([405, 'method_not_allowed', 'GET, HEAD']);
      // The data behind it still needs a token.
      expect((await e2e.call('GET', '/api/v1/me', { anonymous: true })).status).to.equal(401);
    });

    it('an admin signs in, watches the process live, disables and enables the plugin, sees a kill -9 as an exit with its reason, changes limits, reloads, and reads a refusal', async function () {
      const session = await open({ width: 1280, height: 800 });
      const { page } = session;

      // A wrong token: the server's sentence, and still the login form.
      await page.getByLabel('API token').fill('not-a-token');
      await page.getByRole('button', { name: 'Sign in' }).click();
      expect(await page.getByRole('alert').filter({ hasText: 'not valid' }).textContent({ timeout: LIVE_MS })).to.match(/^The token or password is not valid/);

      await signIn(page, e2e.adminToken);
      expect(await page.locator('#role').textContent()).to.equal('admin');

      // The process appears with its pid.
      const [first] = await processes();
      await processRow(page, first.pid).waitFor({ timeout: LIVE_MS });
      expect(await processRow(page, first.pid).locator('td').first().textContent()).to.equal('demo-format');
      expect(await processRow(page, first.pid).locator('.rss').textContent()).to.match(/^\d+\.\d MiB$/);

      // Calls made through the API show up on the page without a reload.
      const calls = async () => Number(await processRow(page, first.pid).locator('.calls').textContent());
      const before = await calls();
      for (let i = 0; i < 5; i++) await api('POST', '/api/v1/formats/demo/test', { path: `a${i}.demo`, content: 'DEMO artifact' });
      expect(await eventually(async () => (await calls()) >= before + 5, LIVE_MS), 'the calls count follows').to.equal(true);
      expect(await page.locator('.chart canvas').count(), 'three charts drawn').to.be.at.least(3);
      await screenshot(page, 'dashboard-1280x800');

      // Disable from the page: the plugin stops, the page says so; the same button (still
      // focused) now enables it, from the keyboard.
      await page.getByRole('button', { name: 'Disable', exact: true }).click();
      await page.locator('#notice').filter({ hasText: 'demo-format is disabled.' }).waitFor({ timeout: LIVE_MS });
      expect((await api('GET', `${PLUGINS}/${pluginId}`)).status).to.equal('disabled');
      await page.locator('table.plugins .badge', { hasText: 'disabled' }).waitFor({ timeout: LIVE_MS });
      expect(await page.evaluate('document.activeElement.textContent')).to.equal('Enable');
      await page.keyboard.press('Enter');
      await page.locator('#notice').filter({ hasText: 'demo-format is enabled.' }).waitFor({ timeout: LIVE_MS });
      expect((await api('GET', `${PLUGINS}/${pluginId}`)).status).to.equal('active');
      const [restarted] = await processes();
      await processRow(page, restarted.pid).waitFor({ timeout: LIVE_MS });

      // kill -9 of the child: its replacement's row shows the exit and why.
      process.kill(restarted.pid, 'SIGKILL');
      let replacement: any;
      expect(
        await eventually(async () => {
          [replacement] = await processes();
          return replacement?.pid && replacement.pid !== restarted.pid && replacement.last_exit !== null;
        }, LIVE_MS),
        'the pool replaces the killed child',
      ).to.equal(true);
      const exit = processRow(page, replacement.pid).locator('td.exit');
      await exit.locator('.badge').waitFor({ timeout: LIVE_MS });
      expect(await exit.locator('.badge').textContent()).to.equal('crashed');
      expect(await exit.textContent()).to.include('signal SIGKILL');
      // The sentence is one keystroke away, in the exit's details.
      await exit.locator('summary').focus();
      await page.keyboard.press('Enter');
      expect(await exit.locator('details p').textContent()).to.include('SIGKILL');
      expect(await processRow(page, replacement.pid).locator('.restarts').textContent()).to.equal('1');
      // The crash is among the plugin's events too, and the host's line about it in the log.
      await page.locator('.event-list .event-type', { hasText: 'crashed' }).first().waitFor({ timeout: LIVE_MS });
      await page.locator('.log .line.stream-host', { hasText: 'SIGKILL' }).first().waitFor({ timeout: LIVE_MS });
      await screenshot(page, 'dashboard-crash-1280x800');

      // New limits from the page, typed and submitted with the keyboard: two instances, two rows.
      await page.getByLabel('Instances').fill('2');
      await page.getByLabel('Instances').press('Enter');
      await page.locator('#notice').filter({ hasText: "demo-format's limits are changed." }).waitFor({ timeout: LIVE_MS });
      expect((await api('GET', `${PLUGINS}/${pluginId}`)).resource_limits.instances).to.equal(2);
      expect(await eventually(async () => (await page.locator('table.processes tbody tr').count()) === 2, LIVE_MS), 'two process rows').to.equal(true);
      await page.getByRole('button', { name: 'Reload' }).click();
      await page.locator('#notice').filter({ hasText: 'demo-format is reloaded: version 1.0.0 serves now.' }).waitFor({ timeout: LIVE_MS });
      await page.locator('.event-list .event-type', { hasText: 'reloaded' }).first().waitFor({ timeout: LIVE_MS });

      // The server's refusal, as a sentence: uninstall while a repository uses the format.
      await api('POST', '/api/v1/repositories', { key: 'ui-demo', format: 'demo' });
      await page.getByRole('button', { name: 'Uninstall…' }).click();
      await page.getByRole('button', { name: 'Uninstall', exact: true }).click();
      const refusal = page.locator('#notice').filter({ hasText: 'failed' });
      await refusal.waitFor({ timeout: LIVE_MS });
      expect(await refusal.locator('.notice-text').textContent()).to.match(/^Uninstall demo-format failed: .+\. Repositories using it: ui-demo\.$/);
      await page.getByRole('button', { name: 'Cancel' }).click();
      expect((await api('GET', `${PLUGINS}/${pluginId}`)).status).to.equal('active');
      await api('DELETE', '/api/v1/repositories/ui-demo');

      // The token went in headers only, and lives in this tab's session storage.
      for (const url of session.requests) expect(url).not.to.include(e2e.adminToken);
      expect(page.url()).to.equal(`${e2e.url}/ui`);
      expect(await page.evaluate('sessionStorage.length')).to.equal(1);
      expect(await page.evaluate('localStorage.length')).to.equal(0);
      expectOnlyOrigin(session);
    });

    it('a reader sees the plugins and processes, and no admin action', async function () {
      const session = await open({ width: 1280, height: 800 });
      const { page } = session;
      await signIn(page, await e2e.createToken('reader'));
      expect(await page.locator('#role').textContent()).to.equal('reader');
      const [current] = await processes();
      await processRow(page, current.pid).waitFor({ timeout: LIVE_MS });
      await page.getByText('Signed in as a reader: actions need an admin token.').waitFor();
      for (const name of ['Disable', 'Enable', 'Reload', 'Uninstall…', 'Apply limits']) {
        expect(await page.getByRole('button', { name, exact: true }).count(), name).to.equal(0);
      }
      expect(await page.locator('form.limits').count()).to.equal(0);
      expectOnlyOrigin(session);
    });

    once('fits a narrow window (400×800): nothing wider than the window but the tables, which scroll', async function () {
      const session = await open({ width: 400, height: 800 });
      const { page } = session;
      await signIn(page, e2e.adminToken);
      const [current] = await processes();
      await processRow(page, current.pid).waitFor({ timeout: LIVE_MS });
      await page.locator('.chart canvas').first().waitFor({ timeout: LIVE_MS });
      expect(await page.evaluate('document.documentElement.scrollWidth')).to.be.at.most(400);
      await screenshot(page, 'dashboard-400x800');
      // Signing out forgets the token.
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('API token').waitFor();
      expect(await page.evaluate('sessionStorage.length')).to.equal(0);
      expectOnlyOrigin(session);
    });
  });
}
