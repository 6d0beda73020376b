// The Host a request names is checked against ALLOWED_HOSTS before anything else answers,
// and the URLs handed to plugins come from PUBLIC_URL or an allowed host only.
import http from 'node:http';
import os from 'node:os';
import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../supervisor/config.js';
import { ADMIN_TOKEN, startHarness, type Harness } from './harness.js';

/** A request sent with exactly these headers (fetch does not let a caller choose Host). */
function rawGet(h: Harness, target: string, headers: Record<string, string>): Promise<{ status: number; json: any }> {
  const { port } = new URL(h.base);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, path: target, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...headers } }, (response) => {
      let text = '';
      response.on('data', (chunk) => (text += chunk)).on('end', () => {
        resolve({ status: response.statusCode!, json: response.headers['content-type']?.includes('json') ? JSON.parse(text) : undefined });
      });
    });
    request.on('error', reject);
    request.end();
  });
}

/** The external base URL the /ext service was handed for the last request. */
const lastBase = (h: Harness) => h.native.calls.at(-1)!.args[3];

describe('http: the Host header', () => {
  describe('by default (TRUST_PROXY=false, no PUBLIC_URL, no ALLOWED_HOSTS)', () => {
    let h: Harness;
    before(async () => {
      h = await startHarness();
    });
    after(() => h.close());
    beforeEach(() => h.reset());

    it("takes this machine's own names, with any port, and hands them to plugins", async () => {
      for (const host of ['127.0.0.1', 'localhost:9999', 'LOCALHOST', '[::1]:8080', `${os.hostname()}:1`]) {
        const answer = await rawGet(h, '/ext/pypi-simple/libs/simple/', { host });
        expect(answer.status, host).to.equal(200);
      }
      expect(lastBase(h)).to.equal(`http://${os.hostname().toLowerCase()}:1`);
      // The forwarded headers are not trusted: the Host is what counts.
      expect((await rawGet(h, '/ext/pypi-simple/libs/', { host: 'localhost:8080', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' })).status).to.equal(200);
      expect(lastBase(h)).to.equal('http://localhost:8080');
    });

    it('refuses any other host with 400 invalid_host on every route, before auth', async () => {
      for (const target of ['/ext/pypi-simple/libs/simple/', '/api/v1/plugins', '/api/v1/repositories/libs/artifacts/a.tgz', '/health', '/no/such/route']) {
        for (const host of ['evil.example', 'evil.example:8080', 'localhost.evil.example', '127.0.0.1.nip.io']) {
          const answer = await rawGet(h, target, { host, authorization: '' });
          expect(answer.status, `${host} ${target}`).to.equal(400);
          expect(answer.json.error).to.equal('invalid_host');
          expect(answer.json.message).to.match(/is not served here; .*ALLOWED_HOSTS/);
        }
      }
      expect(h.native.calls).to.deep.equal([]);
      const malformed = await rawGet(h, '/api/v1/plugins', { host: 'localhost:99999' });
      expect(malformed.status).to.equal(400);
      expect(malformed.json.message).to.match(/is not a host name with an optional port/);
    });
  });

  describe('behind a trusted proxy (TRUST_PROXY=true, ALLOWED_HOSTS)', () => {
    let h: Harness;
    before(async () => {
      h = await startHarness({ TRUST_PROXY: 'true', ALLOWED_HOSTS: '127.0.0.1, repo.example.com .mirror.example.org' });
    });
    after(() => h.close());
    beforeEach(() => h.reset());

    it('checks X-Forwarded-Host as it would the Host, and X-Forwarded-Proto is http or https', async () => {
      expect((await rawGet(h, '/ext/pypi-simple/libs/', { 'x-forwarded-host': 'repo.example.com', 'x-forwarded-proto': 'https' })).status).to.equal(200);
      expect(lastBase(h)).to.equal('https://repo.example.com');
      expect((await rawGet(h, '/ext/pypi-simple/libs/', { 'x-forwarded-host': 'eu.mirror.example.org:8443' })).status).to.equal(200);
      expect(lastBase(h)).to.equal('http://eu.mirror.example.org:8443');
      expect((await rawGet(h, '/ext/pypi-simple/libs/', {})).status).to.equal(200);

      const refused = await rawGet(h, '/ext/pypi-simple/libs/', { 'x-forwarded-host': 'evil.example' });
      expect(refused.status).to.equal(400);
      expect(refused.json.message).to.match(/"evil\.example" \(X-Forwarded-Host header\)/);
      // ALLOWED_HOSTS replaces the defaults.
      expect((await rawGet(h, '/api/v1/plugins', { host: 'localhost' })).status).to.equal(400);
      const proto = await rawGet(h, '/api/v1/plugins', { 'x-forwarded-proto': 'javascript' });
      expect(proto.status).to.equal(400);
      expect(proto.json).to.include({ error: 'invalid_host', message: 'X-Forwarded-Proto must be http or https, got "javascript"' });
    });
  });

  describe('with PUBLIC_URL', () => {
    let h: Harness;
    before(async () => {
      h = await startHarness({ PUBLIC_URL: 'https://keeper.example.com/pk/' });
    });
    after(() => h.close());
    beforeEach(() => h.reset());

    it("hands plugins PUBLIC_URL whatever the request's host, and takes its host by default", async () => {
      for (const host of ['127.0.0.1', 'keeper.example.com']) {
        expect((await rawGet(h, '/ext/pypi-simple/libs/', { host })).status, host).to.equal(200);
        expect(lastBase(h)).to.equal('https://keeper.example.com/pk');
      }
      expect((await rawGet(h, '/ext/pypi-simple/libs/', { host: 'evil.example' })).status).to.equal(400);
    });
  });

  it('refuses a PUBLIC_URL that is no absolute http(s) URL, and ALLOWED_HOSTS entries that are no hosts', () => {
    for (const [env, problem] of [
      [{ PUBLIC_URL: 'keeper.example.com' }, /PUBLIC_URL must be an absolute http or https URL/],
      [{ PUBLIC_URL: 'ftp://keeper.example.com' }, /PUBLIC_URL must be an http or https URL/],
      [{ PUBLIC_URL: 'https://keeper.example.com/?a=1' }, /no query or fragment/],
      [{ PUBLIC_URL: 'https://keeper.example.com/#x' }, /no query or fragment/],
      [{ PUBLIC_URL: 'https://user:pw@keeper.example.com' }, /no credentials/],
      [{ ALLOWED_HOSTS: 'ok.example, evil.example/path' }, /ALLOWED_HOSTS: "evil\.example\/path" is not a host name/],
    ] as const) {
      expect(() => loadConfig(env), JSON.stringify(env)).to.throw(ConfigError, problem);
    }
    expect(loadConfig({ PUBLIC_URL: 'HTTPS://Keeper.Example.com:443/a/b/' }).publicUrl).to.equal('https://keeper.example.com/a/b');
    expect(loadConfig({ ALLOWED_HOSTS: '[::1], Repo.Example.com, *' }).allowedHosts).to.deep.equal(['::1', 'repo.example.com', '*']);
    expect(loadConfig({ PUBLIC_URL: 'https://keeper.example.com', NODE_URL: 'http://node-2.internal:8080' }).allowedHosts).to.include.members(['localhost', '127.0.0.1', '::1', 'keeper.example.com', 'node-2.internal']);
  });
});
