import http from 'node:http';
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

  /** GET as a reader with node:http, which shows the headers as sent (fetch would decode a Content-Encoding). */
  function rawGet(target: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
    return new Promise((resolve, reject) => {
      const request = http.request(`${h.base}${target}`, { headers: { authorization: `Bearer ${h.readerToken}`, ...headers } }, (response) => {
        let text = '';
        response.on('data', (chunk) => (text += chunk)).on('end', () => resolve({ status: response.statusCode!, headers: response.headers, text }));
      });
      request.on('error', reject);
      request.end();
    });
  }

  it("returns the plugin's status and body with only the allowlisted headers, each with a valid value (the last one of a header that is no list)", async () => {
    h.native.response = {
      status: 206,
      headers: [
        ['Content-Type', 'application/vnd.pypi.simple.v1+json; charset=utf-8'],
        ['Content-Encoding', 'identity'],
        ['Content-Disposition', 'attachment; filename="pkg-1.0.tar.gz"'],
        ['Content-Language', 'en, de'],
        ['ETag', '"v0"'],
        ['ETag', 'W/"v1"'],
        ['Last-Modified', 'Sun, 06 Dec 2026 05:00:00 GMT'],
        ['Expires', '0'],
        ['Content-Range', 'bytes 0-4/10'],
        ['Accept-Ranges', 'bytes'],
        ['Docker-Content-Digest', `sha256:${'a'.repeat(64)}`],
        ['Docker-Distribution-API-Version', 'registry/2.0'],
        ['Vary', 'Accept'],
        ['vary', 'Accept-Encoding'],
        // Never the plugin's: the origin's cookies, policies, challenges, CORS, framing, ids.
        ['Set-Cookie', 'session=stolen; Path=/'],
        ['Clear-Site-Data', '"*"'],
        ['Strict-Transport-Security', 'max-age=0'],
        ['WWW-Authenticate', 'Basic realm="phish"'],
        ['Refresh', '0; url=https://evil.example/'],
        ['Access-Control-Allow-Origin', '*'],
        ['Access-Control-Allow-Credentials', 'true'],
        ['X-Request-Id', 'forged'],
        ['Content-Security-Policy', "default-src *"],
        ['X-Content-Type-Options', 'sniff'],
        ['X-Frame-Options', 'ALLOWALL'],
        ['Transfer-Encoding', 'chunked'],
        ['Content-Length', '999'],
        ['Connection', 'close'],
        ['Keep-Alive', 'timeout=1'],
        ['Upgrade', 'websocket'],
        ['X-Plugin', 'one'],
        // Allowed names with values that are not theirs: dropped.
        ['ETag', 'unquoted'],
        ['Last-Modified', 'yesterday'],
        ['Accept-Ranges', 'bytes, lines'],
        ['Content-Disposition', 'evil'],
        ['Vary', 'a\r\nInjected: yes'],
        ['bad header', 'x'],
        ['Content-Type', 'text html'],
      ],
      body: Buffer.from('moved'),
    };
    const answer = await rawGet('/ext/pypi-simple/libs/files/pkg-1.0.tar.gz');
    expect(answer.status).to.equal(206);
    expect(answer.text).to.equal('moved');
    const { date: _date, 'x-request-id': requestId, ...headers } = answer.headers;
    expect(requestId).to.not.equal('forged');
    expect(headers).to.deep.equal({
      'content-type': 'application/vnd.pypi.simple.v1+json; charset=utf-8',
      'content-encoding': 'identity',
      'content-disposition': 'attachment; filename="pkg-1.0.tar.gz"',
      'content-language': 'en, de',
      etag: 'W/"v1"',
      'last-modified': 'Sun, 06 Dec 2026 05:00:00 GMT',
      expires: '0',
      'content-range': 'bytes 0-4/10',
      'accept-ranges': 'bytes',
      'docker-content-digest': `sha256:${'a'.repeat(64)}`,
      'docker-distribution-api-version': 'registry/2.0',
      vary: 'Accept, Accept-Encoding',
      // A private repository's answer: see below.
      'cache-control': 'private',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; sandbox",
      'content-length': '5',
      connection: 'keep-alive',
      'keep-alive': 'timeout=5',
    });
  });

  it("keeps a private repository's answers out of shared caches, and passes a public one's Cache-Control as it is", async () => {
    h.native.response = { status: 200, headers: [['Cache-Control', 'public, max-age=3600'], ['cache-control', 's-maxage=600, no-transform']], body: Buffer.from('x') };
    expect((await rawGet('/ext/pypi-simple/libs/simple/')).headers['cache-control']).to.equal('private, max-age=3600, no-transform');
    h.native.response = { status: 200, headers: [['Cache-Control', 'no-store, private']], body: Buffer.from('x') };
    expect((await rawGet('/ext/pypi-simple/libs/simple/')).headers['cache-control']).to.equal('private, no-store');
    h.native.response = { status: 200, headers: [['Cache-Control', 'max-age=1, =broken']], body: Buffer.from('x') };
    expect((await rawGet('/ext/pypi-simple/libs/simple/')).headers['cache-control']).to.equal('private');

    h.native.repositoryPublic = true;
    h.native.response = { status: 200, headers: [['Cache-Control', 'public, max-age=3600'], ['cache-control', 's-maxage=600']], body: Buffer.from('x') };
    expect((await rawGet('/ext/pypi-simple/libs/simple/')).headers['cache-control']).to.equal('public, max-age=3600, s-maxage=600');
    h.native.response = { status: 200, headers: [], body: Buffer.from('x') };
    expect((await rawGet('/ext/pypi-simple/libs/simple/')).headers['cache-control']).to.equal(undefined);
  });

  it('lets Location point only within the repository, as an absolute URL, and refuses anything else with 502', async () => {
    const redirect = async (location: string) => {
      h.native.response = { status: 302, headers: [['Location', location]], body: Buffer.from('') };
      return rawGet('/ext/pypi-simple/libs/simple/Pkg?x=1');
    };
    const within: Array<[string, string]> = [
      ['pkg/', '/ext/pypi-simple/libs/simple/pkg/'],
      ['../simple/pkg/', '/ext/pypi-simple/libs/simple/pkg/'],
      ['/ext/pypi-simple/libs', '/ext/pypi-simple/libs'],
      ['?page=2', '/ext/pypi-simple/libs/simple/Pkg?page=2'],
      ['/api/v1/repositories/libs/artifacts/pkg-1.0.tar.gz', '/api/v1/repositories/libs/artifacts/pkg-1.0.tar.gz'],
      [`${h.base}/ext/pypi-simple/libs/simple/pkg/`, '/ext/pypi-simple/libs/simple/pkg/'],
    ];
    for (const [location, path] of within) {
      const answer = await redirect(location);
      expect(answer.status, location).to.equal(302);
      expect(answer.headers.location, location).to.equal(`${h.base}${path}`);
    }
    for (const location of [
      'https://evil.example/pkg',
      '//evil.example/pkg',
      '/\\evil.example/pkg',
      'http://localhost:1/ext/pypi-simple/libs/',
      '/ext/pypi-simple/other/pkg',
      '/ext/pypi-simple/libsx/pkg',
      '/ext/other-format/libs/pkg',
      '/api/v1/repositories/libs/../other/artifacts/x',
      '/api/v1/tokens',
      `${h.base.replace('http:', 'https:')}/ext/pypi-simple/libs/`,
      'javascript:alert(1)',
    ]) {
      const answer = await redirect(location);
      expect(answer.status, location).to.equal(502);
      expect(JSON.parse(answer.text), location).to.include({ error: 'plugin_invalid_response' });
      expect(JSON.parse(answer.text).message, location).to.match(/Location .* points outside the repository/);
      expect(answer.headers.location, location).to.equal(undefined);
    }
  });

  it('keeps a Link header whose targets all lie within the repository, and drops any other', async () => {
    const link = async (value: string) => {
      h.native.response = { status: 200, headers: [['Link', value]], body: Buffer.from('') };
      return (await rawGet('/ext/pypi-simple/libs/v2/_catalog')).headers.link;
    };
    expect(await link('</ext/pypi-simple/libs/v2/_catalog?n=10&last=b>; rel="next"')).to.equal('</ext/pypi-simple/libs/v2/_catalog?n=10&last=b>; rel="next"');
    expect(await link('<?n=10>; rel=next, <./other>; rel=prev')).to.equal('<?n=10>; rel=next, <./other>; rel=prev');
    expect(await link('<https://evil.example/>; rel=preload; as=script')).to.equal(undefined);
    expect(await link('</ext/pypi-simple/libs/a>; rel=next, </api/v1/tokens>; rel=prev')).to.equal(undefined);
    expect(await link('not a link')).to.equal(undefined);
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
