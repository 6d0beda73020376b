import { expect } from 'chai';
import { startHarness, type Harness } from './harness.js';

describe('http: native protocol routes (/ext)', () => {
  let h: Harness;

  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());
  beforeEach(() => h.reset());

  it('forwards only the allowlisted request headers, never credentials or cookies', async () => {
    const answer = await h.call('POST', '/ext/pypi-simple/libs/simple/pkg/?a=1&b=two', {
      body: 'payload',
      headers: {
        accept: 'text/html',
        'accept-language': 'en',
        'user-agent': 'pip/24.0',
        'content-type': 'text/plain',
        'if-none-match': '"abc"',
        cookie: 'session=secret',
        'x-api-key': 'not-forwarded',
        'x-custom': 'nope',
        'proxy-authorization': 'Basic eA==',
      },
    });
    expect(answer.status, answer.text).to.equal(200);
    const [call] = h.native.calls;
    const [format, repository, request, origin] = call.args as [string, string, any, string];
    expect([format, repository]).to.deep.equal(['pypi-simple', 'libs']);
    expect(request).to.include({ method: 'POST', path: '/simple/pkg/', query: 'a=1&b=two', body: 'payload' });
    expect(request.headers).to.have.deep.members([
      ['accept', 'text/html'],
      ['accept-language', 'en'],
      ['user-agent', 'pip/24.0'],
      ['content-type', 'text/plain'],
      ['if-none-match', '"abc"'],
    ]);
    expect(origin).to.equal(h.base);
  });

  it("returns the plugin's status, headers and body, minus framing, hop-by-hop and cookie headers", async () => {
    h.native.response = {
      status: 302,
      headers: [
        ['Location', 'https://example.com/pkg-1.0.tar.gz'],
        ['X-Plugin', 'one'],
        ['x-plugin', 'two'],
        ['Set-Cookie', 'tracking=1'],
        ['Transfer-Encoding', 'chunked'],
        ['Content-Length', '999'],
        ['Connection', 'close'],
        ['bad header', 'x'],
        ['X-Split', 'a\r\nInjected: yes'],
        ['X-Wide', 'caf\u00e9 \u2603'],
      ],
      body: Buffer.from('moved'),
    };
    const answer = await fetch(`${h.base}/ext/pypi-simple/libs/files/pkg-1.0.tar.gz`, { redirect: 'manual', headers: { authorization: `Bearer ${h.readerToken}` } });
    expect(answer.status).to.equal(302);
    expect(answer.headers.get('location')).to.equal('https://example.com/pkg-1.0.tar.gz');
    expect(answer.headers.get('x-plugin')).to.equal('one, two');
    expect(answer.headers.get('set-cookie')).to.equal(null);
    expect(answer.headers.get('injected')).to.equal(null);
    expect(answer.headers.get('x-split')).to.equal(null);
    // Not Latin-1: Node would refuse it, so it is dropped instead of failing the answer.
    expect(answer.headers.get('x-wide')).to.equal(null);
    expect(answer.headers.get('content-length')).to.equal('5');
    expect(answer.headers.get('x-content-type-options')).to.equal('nosniff');
    expect(answer.headers.get('content-security-policy')).to.contain('sandbox');
    expect(await answer.text()).to.equal('moved');
  });

  it('lets anonymous callers through to public repositories only, and readers GET but not POST', async () => {
    h.artifacts.publicKeys.add('open');
    expect((await h.call('GET', '/ext/pypi-simple/open/simple/', { as: 'anonymous' })).status).to.equal(200);
    expect((await h.call('POST', '/ext/pypi-simple/open/simple/', { as: 'anonymous', body: 'x' })).status).to.equal(200);
    expect((await h.call('GET', '/ext/pypi-simple/closed/simple/', { as: 'anonymous' })).status).to.equal(401);
    expect((await h.call('GET', '/ext/pypi-simple/closed/simple/', { as: 'reader' })).status).to.equal(200);
    expect((await h.call('POST', '/ext/pypi-simple/closed/simple/', { as: 'reader', body: 'x' })).status).to.equal(403);
    // Only the repositories below the mount: the repository object itself is never anonymous.
    expect((await h.call('GET', '/api/v1/repositories/open', { as: 'anonymous' })).status).to.equal(401);
    expect(h.native.calls.map((call) => call.args[1])).to.deep.equal(['open', 'open', 'closed']);
  });
});

describe('http: artifact routes', () => {
  let h: Harness;

  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());
  beforeEach(() => h.reset());

  it('streams the raw body to the service with the path and the overwrite flag', async () => {
    const answer = await h.call('PUT', '/api/v1/repositories/libs/artifacts/com/acme/lib/1.0/lib-1.0.jar?overwrite=true', { body: Buffer.from('jar bytes'), headers: { 'content-type': 'application/java-archive' } });
    expect(answer.status, answer.text).to.equal(201);
    expect(answer.json.size_bytes).to.equal(9);
    expect(h.artifacts.calls).to.deep.equal([{ method: 'upload', args: ['libs', 'com/acme/lib/1.0/lib-1.0.jar', { overwrite: true, declaredBytes: 9 }] }]);
  });

  it('answers HEAD with the headers of a download and no body', async () => {
    const answer = await h.call('HEAD', '/api/v1/repositories/libs/artifacts/a/b.tgz');
    expect(answer.status).to.equal(200);
    expect(answer.text).to.equal('');
    expect(answer.headers.get('etag')).to.equal(`"${'a'.repeat(64)}"`);
    expect(answer.headers.get('content-type')).to.equal('application/gzip');
    expect(answer.headers.get('content-disposition')).to.equal('attachment; filename="b.tgz"');
  });
});
