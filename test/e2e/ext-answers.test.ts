// What a plugin's native answers (`/ext`) can do to clients, through real HTTP and real
// children (sqlite): the puppet fixture answers with the status and headers the request body
// asks for. A 1xx status never reaches the connection, headers outside the allowlist never
// reach the client, a redirect never leaves the repository; request bodies are bounded by
// the plugin's memory.
import net from 'node:net';
import { expect } from 'chai';
import { sqliteFixture, type EngineFixture } from '../support/engines.js';
import { manifest, pluginFolder, startE2E, type E2E } from './harness.js';
import { expectInvalidResponse, installPuppet } from './puppet.js';

const REPOS = '/api/v1/repositories';

/**
 * Two requests pipelined on one raw connection, the second asking to close it: the status
 * lines and bodies of every answer read back, in order.
 */
async function pipelined(e2e: E2E, first: string, second: string): Promise<string> {
  const { hostname, port } = new URL(e2e.url);
  const socket = net.connect(Number(port), hostname);
  socket.write(first + second);
  let text = '';
  for await (const chunk of socket) text += chunk;
  return text;
}

function post(path: string, body: string, extra = ''): string {
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

describe('native answers of a hostile plugin (sqlite)', function () {
  this.timeout(90_000);
  let engine: EngineFixture;
  let e2e: E2E;

  /** POST the puppet's instructions to an /ext path of the public repository. */
  const answerWith = (instructions: unknown, path = '/ext/puppet/open/x') => e2e.call('POST', path, { body: Buffer.from(JSON.stringify(instructions)) });

  before(async function () {
    engine = sqliteFixture();
    e2e = await startE2E(engine);
    await installPuppet(e2e);
    expect((await e2e.call('POST', REPOS, { body: { key: 'open', format: 'puppet', public: true } })).status).to.equal(201);
  });

  after(async function () {
    await e2e?.close();
    await engine?.dispose();
  });

  for (const status of [101, 103, 199]) {
    it(`answers a plugin's ${status} with 502, and the next request on the connection gets its own answer`, async function () {
      const instructions = JSON.stringify({ status, headers: [['upgrade', 'websocket'], ['connection', 'upgrade'], ['link', '</x>; rel=preload']] });
      const text = await pipelined(e2e, post('/ext/puppet/open/x', instructions), `GET /ext/puppet/open/y HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      const statusLines = text.match(/HTTP\/1\.1 \d{3}/g);
      expect(statusLines, text).to.deep.equal(['HTTP/1.1 502', 'HTTP/1.1 200']);
      expect(text).to.contain('"error":"plugin_invalid_response"');
      expect(text).to.match(/status \d+ is not an HTTP status from 200 to 599/);
      expect(text.endsWith('puppet')).to.equal(true);
    });
  }

  it("serves the plugin's answer with only the allowlisted headers, and the server's own CSP and nosniff", async function () {
    const answer = await answerWith({
      status: 200,
      headers: [
        ['Content-Type', 'text/html'],
        ['Set-Cookie', 'session=x; Path=/'],
        ['Content-Security-Policy', 'default-src *'],
        ['X-Content-Type-Options', 'sniff'],
        ['Access-Control-Allow-Origin', '*'],
        ['Refresh', '0; url=https://evil.example/'],
        ['Cache-Control', 'public, max-age=60'],
      ],
      body: '<script>alert(1)</script>',
    });
    expect(answer.status).to.equal(200);
    expect(answer.text).to.equal('<script>alert(1)</script>');
    expect(answer.headers.get('content-type')).to.equal('text/html');
    for (const name of ['set-cookie', 'access-control-allow-origin', 'refresh']) expect(answer.headers.get(name), name).to.equal(null);
    expect(answer.headers.get('content-security-policy')).to.equal("default-src 'none'; sandbox");
    expect(answer.headers.get('x-content-type-options')).to.equal('nosniff');
    // A public repository's answer may be cached by anyone.
    expect(answer.headers.get('cache-control')).to.equal('public, max-age=60');
  });

  it('keeps redirects within the repository: relative ones made absolute, others 502', async function () {
    const within = await fetch(`${e2e.url}/ext/puppet/open/simple/Pkg`, { method: 'POST', redirect: 'manual', body: JSON.stringify({ status: 301, headers: [['Location', '../simple/pkg/']] }) });
    expect(within.status).to.equal(301);
    expect(within.headers.get('location')).to.equal(`${e2e.url}/ext/puppet/open/simple/pkg/`);
    expectInvalidResponse(await answerWith({ status: 302, headers: [['Location', 'https://evil.example/pkg.tar.gz']] }), /Location "https:\/\/evil\.example\/pkg\.tar\.gz" points outside the repository/);
    expectInvalidResponse(await answerWith({ status: 302, headers: [['Location', '//evil.example/']] }), /points outside the repository/);
  });

  it('answers 502 for more headers than an answer may carry', async function () {
    const headers = Array.from({ length: 101 }, (_, i) => [`x-${i}`, 'v']);
    expectInvalidResponse(await answerWith({ status: 200, headers }), /headers has 101 entries; at most 100/);
    expectInvalidResponse(await answerWith({ status: 200, headers: [['etag', { repeat: 'x', times: 40_000 }]] }), /headers hold more than 32768 characters/);
  });

  it("refuses a request body larger than the plugin's memory can take with 413 naming the limit", async function () {
    const v2 = manifest('demo-v2-format', '1.0.0', 'demo-v2', '\n[capabilities]\nhandle_request = true\n');
    const installed = await e2e.call('POST', '/api/v1/plugins/install/local', { body: { path: await pluginFolder(e2e.localRoot, 'good-v2', v2, 'good-v2') } });
    expect(installed.status, installed.text).to.equal(201);
    expect((await e2e.call('PUT', `/api/v1/plugins/${installed.json.id}/limits`, { body: { memory_mb: 1 } })).status).to.equal(200);
    expect((await e2e.call('POST', REPOS, { body: { key: 'small', format: 'demo-v2' } })).status).to.equal(201);

    const refused = await e2e.call('POST', '/ext/demo-v2/small/upload', { body: Buffer.alloc(600 * 1024) });
    expect(refused.status, refused.text).to.equal(413);
    expect(refused.json.error).to.equal('payload_too_large');
    expect(refused.json.message).to.match(/larger than the limit of 524288 bytes: the demo-v2 plugin's memory limit of 1 MB allows artifacts up to 524288 bytes/);
    const taken = await e2e.call('POST', '/ext/demo-v2/small/upload', { body: Buffer.alloc(100 * 1024) });
    expect(taken.text).to.match(/^POST \/upload\? .* body=102400$/);
  });
});
