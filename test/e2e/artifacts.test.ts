// Artifacts through real HTTP on SQLite and on PostgreSQL: uploads through core handlers
// and WebAssembly plugins (validate, parse-metadata, generate-index), downloads, indexes,
// paths that try to escape, limits, failures that must leave nothing behind, visibility,
// disabled formats, and the native protocol (`/ext`) of a v2 plugin.
import { createHash } from 'node:crypto';
import http from 'node:http';
import { expect } from 'chai';
import { loadConfig } from '../../supervisor/config.js';
import { inspectBlobs, type BlobInspector } from '../support/blob-inspect.js';
import { postgresFixture, sqliteFixture, type EngineFixture } from '../support/engines.js';
import { startS3, type S3Server } from '../support/s3.js';
import { tarGz } from '../formats/core/artifacts.js';
import { manifest, pluginFolder, resetService, startE2E, type Answer, type CallOptions, type E2E } from './harness.js';

const REPOS = '/api/v1/repositories';
const PLUGINS = '/api/v1/plugins';
const FORMATS = '/api/v1/formats';
/** The server's upload limit in these tests (ARTIFACTS_MAX_MB). */
const MAX_MB = 2;

const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

function expectError(answer: Answer, status: number, code: string, message?: RegExp): void {
  expect(answer.status, answer.text).to.equal(status);
  expect(answer.json?.error, answer.text).to.equal(code);
  expect(answer.json.message).to.be.a('string').that.is.not.empty;
  if (message) expect(answer.json.message).to.match(message);
}

/**
 * A request sent as written: the path without client-side normalisation of `..`, and no
 * headers added (fetch adds `Cache-Control: no-cache` to conditional requests).
 */
function rawRequest(e2e: E2E, method: string, target: string, headers: Record<string, string>, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(e2e.url, { method, headers }, (response) => {
      let text = '';
      response.on('data', (chunk) => (text += chunk)).on('end', () => resolve({ status: response.statusCode!, text }));
    });
    request.on('error', reject);
    request.path = target;
    request.end(body);
  });
}

function npmTarball(name: string, version: string, extra: Record<string, string> = {}): Promise<Buffer> {
  return tarGz({ 'package/package.json': JSON.stringify({ name, version }), ...extra });
}

/** The bytes `good.wat` accepts; its version is the decimal sum of the bytes. */
function demoArtifact(tail: string): { data: Buffer; version: string } {
  const data = Buffer.from(`DEMO${tail}`);
  return { data, version: String(data.reduce((sum, byte) => sum + byte, 0)) };
}

/** Each engine with the default blob store (a folder), and PostgreSQL with blobs in an S3 bucket (a real s3rver). */
const SETUPS = [
  { makeEngine: sqliteFixture, s3: false },
  { makeEngine: postgresFixture, s3: false },
  { makeEngine: postgresFixture, s3: true },
];

for (const { makeEngine, s3 } of SETUPS) {
  describe(`artifacts end to end (${makeEngine().engine}, ${s3 ? 's3://' : 'file:'})`, function () {
    this.timeout(90_000);
    let engine: EngineFixture;
    let e2e: E2E;
    let readerToken: string;
    let s3Server: S3Server | undefined;
    let blobs: BlobInspector;

    const call = (method: string, target: string, options?: CallOptions) => e2e.call(method, target, options);
    const get = (target: string, options?: CallOptions) => call('GET', target, options);
    const put = (target: string, body: Uint8Array | string, options: CallOptions = {}) => call('PUT', target, { ...options, body });
    const asReader = { headers: { authorization: `Bearer ${'' /* set in before */}` } };
    const createRepository = async (key: string, format: string, isPublic = false) => {
      const created = await call('POST', REPOS, { body: { key, format, public: isPublic } });
      expect(created.status, created.text).to.equal(201);
    };
    const installLocal = async (folder: string, toml: string, wasm: Parameters<typeof pluginFolder>[3]) => {
      const installed = await call('POST', `${PLUGINS}/install/local`, { body: { path: await pluginFolder(e2e.localRoot, folder, toml, wasm) } });
      expect(installed.status, installed.text).to.equal(201);
      return installed.json;
    };
    /** Every blob stored (files, or objects), and every staging file left behind. */
    const blobFiles = () => blobs.stored();
    const stagingLeft = () => blobs.staging();

    before(async function () {
      engine = makeEngine();
      if (s3) s3Server = await startS3();
      const env = { ARTIFACTS_MAX_MB: String(MAX_MB), ...s3Server?.env('e2e') };
      e2e = await startE2E(engine, env);
      blobs = inspectBlobs(loadConfig({ DATA_DIR: e2e.dataDir, ...env }));
      readerToken = await e2e.createToken('reader');
      asReader.headers.authorization = `Bearer ${readerToken}`;
    });

    afterEach(async function () {
      await resetService(e2e);
      // Deleting the repositories freed every blob.
      expect(await blobFiles()).to.deep.equal([]);
      expect(await stagingLeft()).to.deep.equal([]);
    });

    after(async function () {
      blobs?.close();
      await e2e?.close();
      await engine?.dispose();
      await s3Server?.close();
    });

    describe('through a core format (npm)', function () {
      const artifactPath = 'left-pad/-/left-pad-1.0.0.tgz';
      const url = `${REPOS}/npm-local/artifacts/${artifactPath}`;

      it('uploads, lists, downloads, indexes, refuses a second upload, overwrites and deletes', async function () {
        await createRepository('npm-local', 'npm');
        const tarball = await npmTarball('left-pad', '1.0.0');
        const uploaded = await put(url, tarball);
        expect(uploaded.status, uploaded.text).to.equal(201);
        expect(uploaded.json).to.include({ path: artifactPath, size_bytes: tarball.length, checksum_sha256: sha256(tarball), version: '1.0.0' });
        expect(uploaded.json.content_type).to.be.a('string').that.is.not.empty;
        expect(uploaded.json.metadata).to.include({ path: artifactPath, version: '1.0.0' });
        // npm gives no checksum of its own: the answer shows the server's, not null beside it.
        expect(uploaded.json.metadata.checksum_sha256).to.equal(sha256(tarball));

        const list = await get(`${REPOS}/npm-local/artifacts`);
        expect(list.json.total).to.equal(1);
        expect(list.json.items[0]).to.deep.equal(uploaded.json);

        const download = await fetch(e2e.url + url, { headers: { authorization: `Bearer ${readerToken}` } });
        expect(download.status).to.equal(200);
        expect(Buffer.from(await download.arrayBuffer()).equals(tarball)).to.equal(true);
        expect(download.headers.get('etag')).to.equal(`"${sha256(tarball)}"`);
        expect(download.headers.get('content-type')).to.equal(uploaded.json.content_type);
        expect(download.headers.get('content-length')).to.equal(String(tarball.length));
        expect(download.headers.get('x-content-type-options')).to.equal('nosniff');

        const head = await call('HEAD', url);
        expect(head.status).to.equal(200);
        expect(head.text).to.equal('');
        expect(head.headers.get('content-length')).to.equal(String(tarball.length));
        expect(head.headers.get('etag')).to.equal(`"${sha256(tarball)}"`);
        const conditional = await rawRequest(e2e, 'GET', url, { authorization: `Bearer ${readerToken}`, 'if-none-match': `"${sha256(tarball)}"` });
        expect(conditional.status).to.equal(304);
        expect(conditional.text).to.equal('');

        // The packument, generated by the handler after the upload.
        const index = await get(`${REPOS}/npm-local/index`);
        expect(index.json.error).to.equal(null);
        expect(index.json.generated_at).to.be.a('string');
        expect(index.json.items.map((file: any) => file.path)).to.deep.equal(['left-pad']);
        const packument = await get(`${REPOS}/npm-local/index/left-pad`);
        expect(packument.headers.get('content-type')).to.match(/^application\/json/);
        expect(packument.json.versions['1.0.0'].dist.tarball).to.equal(artifactPath);
        expect(packument.json.versions['1.0.0'].dist.integrity).to.equal(`sha256-${Buffer.from(sha256(tarball), 'hex').toString('base64')}`);
        // The index tree lies over the artifacts: the packument's relative tarball link resolves.
        const throughIndex = await fetch(`${e2e.url}${REPOS}/npm-local/index/${packument.json.versions['1.0.0'].dist.tarball}`, { headers: { authorization: `Bearer ${readerToken}` } });
        expect(Buffer.from(await throughIndex.arrayBuffer()).equals(tarball)).to.equal(true);

        expectError(await put(url, tarball), 409, 'artifact_exists', /overwrite=true/);

        const changed = await npmTarball('left-pad', '1.0.0', { 'package/README.md': 'changed' });
        const replaced = await put(`${url}?overwrite=true`, changed);
        expect(replaced.status, replaced.text).to.equal(201);
        expect(replaced.json.checksum_sha256).to.equal(sha256(changed));
        expect(replaced.json.created_at).to.equal(uploaded.json.created_at);
        // The first tarball's blob went with it; the index names the new checksum.
        expect(await blobFiles()).to.not.include(sha256(tarball));
        expect(await blobFiles()).to.include(sha256(changed));
        expect((await get(`${REPOS}/npm-local/index/left-pad`)).json.versions['1.0.0'].dist.integrity).to.equal(`sha256-${Buffer.from(sha256(changed), 'hex').toString('base64')}`);

        expect((await call('DELETE', url)).status).to.equal(204);
        expectError(await get(url), 404, 'not_found');
        expectError(await call('DELETE', url), 404, 'not_found');
        expect((await get(`${REPOS}/npm-local/index`)).json.items).to.deep.equal([]);
        expect(await blobFiles()).to.deep.equal([]);
      });

      it('serves one byte range of a download (206), 416 past the end, and the whole file otherwise', async function () {
        await createRepository('npm-local', 'npm');
        const tarball = await npmTarball('left-pad', '1.0.0', { 'package/README.md': 'x'.repeat(5000) });
        expect((await put(url, tarball)).status).to.equal(201);
        const size = tarball.length;
        const ranged = async (range: string, headers: Record<string, string> = {}) => {
          const response = await fetch(e2e.url + url, { headers: { authorization: `Bearer ${readerToken}`, range, ...headers } });
          return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) };
        };
        const expectPart = async (range: string, start: number, end: number, headers: Record<string, string> = {}) => {
          const answer = await ranged(range, headers);
          expect(answer.status, range).to.equal(206);
          expect(answer.headers.get('content-range'), range).to.equal(`bytes ${start}-${end}/${size}`);
          expect(answer.headers.get('content-length'), range).to.equal(String(end - start + 1));
          expect(answer.bytes.equals(tarball.subarray(start, end + 1)), range).to.equal(true);
        };
        await expectPart('bytes=10-19', 10, 19);
        await expectPart('bytes=-5', size - 5, size - 1);
        await expectPart(`bytes=${size - 3}-`, size - 3, size - 1);
        await expectPart(`bytes=5-${size + 100}`, 5, size - 1);
        await expectPart('bytes=0-1', 0, 1, { 'if-range': `"${sha256(tarball)}"` });

        const past = await ranged(`bytes=${size}-`);
        expect(past.status).to.equal(416);
        expect(past.headers.get('content-range')).to.equal(`bytes */${size}`);
        expect(JSON.parse(past.bytes.toString()).error).to.equal('range_not_satisfiable');
        // Several ranges, a stale If-Range, or no Range at all: the whole file.
        for (const [range, headers] of [['bytes=0-1,5-6', {}], ['bytes=0-1', { 'if-range': '"another-version"' }], ['', {}]] as const) {
          const whole = await ranged(range, headers);
          expect(whole.status, range).to.equal(200);
          expect(whole.headers.get('accept-ranges')).to.equal('bytes');
          expect(whole.bytes.equals(tarball), range).to.equal(true);
        }
      });

      it("resolves a scoped packument's tarball link from where the packument is served", async function () {
        await createRepository('npm-local', 'npm', true);
        const tarball = await npmTarball('@acme/widget', '2.0.0');
        expect((await put(`${REPOS}/npm-local/artifacts/@acme/widget/-/widget-2.0.0.tgz`, tarball)).status).to.equal(201);
        const packumentUrl = `${e2e.url}${REPOS}/npm-local/index/@acme/widget`;
        const packument = await (await fetch(packumentUrl)).json();
        const link = new URL(packument.versions['2.0.0'].dist.tarball, packumentUrl);
        const fetched = await fetch(link);
        expect(fetched.status, link.href).to.equal(200);
        expect(Buffer.from(await fetched.arrayBuffer()).equals(tarball)).to.equal(true);
      });

      it('lists by prefix, and keeps one blob for the same bytes at two paths', async function () {
        await createRepository('files', 'generic');
        for (const file of ['tools/a/1.0.0/a.bin', 'tools/a/1.1.0/a.bin', 'tools/b/2.0.0/b.bin']) {
          const answer = await put(`${REPOS}/files/artifacts/${file}`, 'same bytes');
          expect(answer.status, answer.text).to.equal(201);
          expect(answer.json.version).to.equal(file.split('/')[2]);
        }
        const prefixed = await get(`${REPOS}/files/artifacts?prefix=tools/a/`);
        expect(prefixed.json.items.map((item: any) => item.path)).to.deep.equal(['tools/a/1.0.0/a.bin', 'tools/a/1.1.0/a.bin']);
        expect(prefixed.json.total).to.equal(2);
        expect(await blobFiles()).to.deep.equal([sha256('same bytes')]);
        // Deleting one of three rows keeps the shared blob.
        expect((await call('DELETE', `${REPOS}/files/artifacts/tools/a/1.0.0/a.bin`)).status).to.equal(204);
        expect(await blobFiles()).to.deep.equal([sha256('same bytes')]);
        // A format without an index never generated one.
        expect((await get(`${REPOS}/files/index`)).json).to.include({ total: 0, generated_at: null, error: null });
      });

      it('refuses a damaged or mismatched package with the handler message and writes nothing', async function () {
        await createRepository('npm-local', 'npm');
        expectError(await put(url, 'not a tarball'), 422, 'artifact_invalid', /gzip/);
        expectError(await put(url, await npmTarball('right-pad', '1.0.0')), 422, 'artifact_invalid', /does not match right-pad@1\.0\.0/);
        expect((await get(`${REPOS}/npm-local/artifacts`)).json.total).to.equal(0);
        expect(await blobFiles()).to.deep.equal([]);
        expect(await stagingLeft()).to.deep.equal([]);
      });

      it('refuses paths that escape the repository, however they are spelled', async function () {
        await createRepository('files', 'generic');
        const raw = async (target: string) => {
          const answer = await rawRequest(e2e, 'PUT', `${REPOS}/files/artifacts/${target}`, { authorization: `Bearer ${e2e.adminToken}` }, 'x');
          return { status: answer.status, json: JSON.parse(answer.text) };
        };
        for (const [target, problem] of [
          ['../../etc/passwd', /"\.\." segment/],
          ['a/%2e%2e/%2e%2e/b', /"\.\." segment/],
          ['a/..%2F..%2Fb', /"\.\." segment/],
          ['/etc/passwd', /absolute/],
          ['%2Fetc%2Fpasswd', /absolute/],
          ['a%00b', /NUL/],
          ['a%5C..%5Cb', /backslash/],
          ['C:%5Cwindows', /backslash|drive letter/],
        ] as const) {
          const answer = await raw(target);
          expect(answer.status, `${target}: ${JSON.stringify(answer.json)}`).to.equal(400);
          expect(answer.json.error).to.equal('invalid_path');
          expect(answer.json.message, target).to.match(problem);
        }
        // `.` and empty segments are normalised, not refused.
        const normalised = await raw('a/./b//c.txt');
        expect(normalised.status, JSON.stringify(normalised.json)).to.equal(201);
        expect(normalised.json.path).to.equal('a/b/c.txt');
        expect((await get(`${REPOS}/files/artifacts`)).json.items.map((item: any) => item.path)).to.deep.equal(['a/b/c.txt']);
      });

      it('refuses an upload over the size limit, declared or streamed, and keeps nothing of it', async function () {
        await createRepository('files', 'generic');
        const big = Buffer.alloc(MAX_MB * 1024 * 1024 + 1, 7);
        expectError(await put(`${REPOS}/files/artifacts/big.bin`, big), 413, 'payload_too_large', new RegExp(`${MAX_MB * 1024 * 1024} bytes.*ARTIFACTS_MAX_MB`));
        // Chunked: no Content-Length, so the limit is found while streaming.
        const chunked = await fetch(`${e2e.url}${REPOS}/files/artifacts/big.bin`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${e2e.adminToken}` },
          body: new Blob([big]).stream(),
          duplex: 'half',
        } as RequestInit);
        expect(chunked.status).to.equal(413);
        expect((await get(`${REPOS}/files/artifacts`)).json.total).to.equal(0);
        expect(await blobFiles()).to.deep.equal([]);
        expect(await stagingLeft()).to.deep.equal([]);
        // Exactly at the limit is fine.
        expect((await put(`${REPOS}/files/artifacts/edge.bin`, big.subarray(1))).status).to.equal(201);
      });

      it('answers 404 for unknown repositories and artifacts, 400 for a bad overwrite flag', async function () {
        expectError(await put(`${REPOS}/nowhere/artifacts/a.txt`, 'x'), 404, 'not_found', /nowhere/);
        expectError(await get(`${REPOS}/nowhere/artifacts`), 404, 'not_found');
        await createRepository('files', 'generic');
        expectError(await get(`${REPOS}/files/artifacts/missing.txt`), 404, 'not_found');
        expectError(await get(`${REPOS}/files/index/missing.txt`), 404, 'not_found');
        expectError(await put(`${REPOS}/files/artifacts/a.txt?overwrite=maybe`, 'x'), 400, 'bad_request', /"overwrite" must be one of true, false/);
      });

      it('lets anonymous callers read public repositories only, and readers read but not write', async function () {
        await createRepository('open', 'generic', true);
        await createRepository('closed', 'generic', false);
        for (const key of ['open', 'closed']) expect((await put(`${REPOS}/${key}/artifacts/a.txt`, 'hello')).status).to.equal(201);

        expect((await get(`${REPOS}/open/artifacts/a.txt`, { anonymous: true })).text).to.equal('hello');
        expect((await get(`${REPOS}/open/artifacts`, { anonymous: true })).json.total).to.equal(1);
        expect((await get(`${REPOS}/open/index`, { anonymous: true })).status).to.equal(200);
        expect((await call('HEAD', `${REPOS}/open/artifacts/a.txt`, { anonymous: true })).status).to.equal(200);
        // Not the repository object, and never a write.
        expect((await get(`${REPOS}/open`, { anonymous: true })).status).to.equal(401);
        expectError(await put(`${REPOS}/open/artifacts/b.txt`, 'x', { anonymous: true }), 401, 'unauthorized');
        expectError(await call('DELETE', `${REPOS}/open/artifacts/a.txt`, { anonymous: true }), 401, 'unauthorized');
        // A private repository and a missing one look the same to anonymous callers.
        const closed = await get(`${REPOS}/closed/artifacts/a.txt`, { anonymous: true });
        expectError(closed, 401, 'unauthorized');
        expect(closed.headers.get('www-authenticate')).to.equal('Bearer, Basic');
        expectError(await get(`${REPOS}/nowhere/artifacts/a.txt`, { anonymous: true }), 401, 'unauthorized');
        // A bad token is refused even on a public repository.
        expectError(await get(`${REPOS}/open/artifacts/a.txt`, { anonymous: true, headers: { authorization: 'Bearer nope' } }), 401, 'invalid_credentials');

        expect((await get(`${REPOS}/closed/artifacts/a.txt`, asReader)).text).to.equal('hello');
        expectError(await put(`${REPOS}/closed/artifacts/b.txt`, 'x', asReader), 403, 'forbidden');
        expectError(await call('DELETE', `${REPOS}/closed/artifacts/a.txt`, asReader), 403, 'forbidden');
        expectError(await put(`${REPOS}/open/artifacts/b.txt`, 'x', asReader), 403, 'forbidden');
      });

      it('refuses uploads to a disabled format with 503 and keeps its artifacts downloadable', async function () {
        await createRepository('files', 'generic');
        expect((await put(`${REPOS}/files/artifacts/a.txt`, 'kept')).status).to.equal(201);
        expect((await call('POST', `${FORMATS}/generic/disable`)).status).to.equal(200);
        expectError(await put(`${REPOS}/files/artifacts/b.txt`, 'refused'), 503, 'format_unavailable', /generic/);
        expect((await get(`${REPOS}/files/artifacts/a.txt`)).text).to.equal('kept');
        expect((await get(`${REPOS}/files/artifacts`)).json.total).to.equal(1);
        expect(await stagingLeft()).to.deep.equal([]);
      });
    });

    describe('through a WebAssembly plugin', function () {
      it('validates, parses metadata and regenerates the index through the plugin', async function () {
        await installLocal('good', manifest('demo-format', '1.0.0', 'demo', '\n[capabilities]\nparse_metadata = true\nvalidate_artifact = true\ngenerate_index = true\n'), 'good');
        await createRepository('demo-repo', 'demo');
        expectError(await put(`${REPOS}/demo-repo/artifacts/x.demo`, 'NOPE'), 422, 'artifact_invalid', /^bad magic: expected DEMO$/);
        expectError(await put(`${REPOS}/demo-repo/artifacts/x.demo`, ''), 422, 'artifact_invalid', /^empty artifact$/);

        const first = demoArtifact('one');
        const uploaded = await put(`${REPOS}/demo-repo/artifacts/pkgs/one.demo`, first.data);
        expect(uploaded.status, uploaded.text).to.equal(201);
        expect(uploaded.json).to.include({ version: first.version, content_type: 'application/x-demo', size_bytes: first.data.length, checksum_sha256: sha256(first.data) });
        const second = demoArtifact('two!');
        expect((await put(`${REPOS}/demo-repo/artifacts/pkgs/two.demo`, second.data)).status).to.equal(201);

        // good.wat's index: "<path> <version> <size>" per artifact, in the order it was given them (by path).
        const index = await get(`${REPOS}/demo-repo/index/index.txt`);
        expect(index.status).to.equal(200);
        expect(index.text).to.equal(`pkgs/one.demo ${first.version} ${first.data.length}\npkgs/two.demo ${second.version} ${second.data.length}\n`);
        expect(index.headers.get('content-type')).to.match(/^text\/plain/);

        expect((await call('DELETE', `${REPOS}/demo-repo/artifacts/pkgs/one.demo`)).status).to.equal(204);
        expect((await get(`${REPOS}/demo-repo/index/index.txt`)).text).to.equal(`pkgs/two.demo ${second.version} ${second.data.length}\n`);
        // No artifacts: the plugin says "no index", and the old file goes.
        expect((await call('DELETE', `${REPOS}/demo-repo/artifacts/pkgs/two.demo`)).status).to.equal(204);
        expect((await get(`${REPOS}/demo-repo/index`)).json.items).to.deep.equal([]);
      });

      it('refuses an artifact larger than the plugin memory can hold with a 413 naming the limit', async function () {
        const plugin = await installLocal('good', manifest('demo-format', '1.0.0', 'demo'), 'good');
        expect((await call('PUT', `${PLUGINS}/${plugin.id}/limits`, { body: { memory_mb: 1 } })).status).to.equal(200);
        await createRepository('demo-repo', 'demo');
        const big = Buffer.concat([Buffer.from('DEMO'), Buffer.alloc(600 * 1024)]);
        expectError(await put(`${REPOS}/demo-repo/artifacts/big.demo`, big), 413, 'payload_too_large', /memory limit of 1 MB allows artifacts up to 524288 bytes: .*format-plugin-v3/);
        expect(await blobFiles()).to.deep.equal([]);
        expect((await put(`${REPOS}/demo-repo/artifacts/small.demo`, demoArtifact('small').data)).status).to.equal(201);
      });

      it('leaves no blob and no row when the plugin times out or crashes mid-upload', async function () {
        await installLocal('loop', manifest('loop-format', '1.0.0', 'loop', '\n[requirements]\ntimeout_secs = 1\n'), 'loop');
        await installLocal('trap', manifest('trap-format', '1.0.0', 'trap'), 'trap');
        await createRepository('loops', 'loop');
        await createRepository('traps', 'trap');

        expectError(await put(`${REPOS}/loops/artifacts/a.bin`, 'spin'), 504, 'plugin_timeout', /1000 ms/);
        expectError(await put(`${REPOS}/traps/artifacts/a.bin`, 'TRAP'), 502, 'plugin_crashed');
        for (const key of ['loops', 'traps']) expect((await get(`${REPOS}/${key}/artifacts`)).json.total).to.equal(0);
        expect(await blobFiles()).to.deep.equal([]);
        expect(await stagingLeft()).to.deep.equal([]);
        // The replacement instance takes the next upload.
        const next = await put(`${REPOS}/traps/artifacts/b.bin`, 'fine');
        expect(next.status, next.text).to.equal(201);
      });

      it('keeps a force-uninstalled plugin format downloadable while uploads get format_unavailable', async function () {
        const plugin = await installLocal('good', manifest('demo-format', '1.0.0', 'demo'), 'good');
        await createRepository('demo-repo', 'demo');
        const artifact = demoArtifact('kept');
        expect((await put(`${REPOS}/demo-repo/artifacts/kept.demo`, artifact.data)).status).to.equal(201);
        const refused = await call('DELETE', `${PLUGINS}/${plugin.id}`);
        expectError(refused, 409, 'dependency_conflict');
        expect(refused.json.dependent_repositories.map((repository: any) => repository.key)).to.deep.equal(['demo-repo']);
        expect((await call('DELETE', `${PLUGINS}/${plugin.id}?force=true`)).status).to.equal(204);
        expectError(await put(`${REPOS}/demo-repo/artifacts/new.demo`, demoArtifact('new').data), 503, 'format_unavailable');
        const download = await get(`${REPOS}/demo-repo/artifacts/kept.demo`);
        expect(download.status).to.equal(200);
        expect(download.text).to.equal(artifact.data.toString());
      });
    });

    describe('native protocol (/ext) of a v2 plugin', function () {
      const v2 = manifest('demo-v2-format', '1.0.0', 'demo-v2', '\n[capabilities]\nhandle_request = true\n');

      it('passes method, path, query, body and the repository context, and returns the plugin answer', async function () {
        await installLocal('good-v2', v2, 'good-v2');
        await createRepository('native', 'demo-v2');
        expect((await put(`${REPOS}/native/artifacts/a.demo`, demoArtifact('a').data)).status).to.equal(201);

        const answer = await get('/ext/demo-v2/native/simple/pkg/?name=x&y=1');
        expect(answer.status, answer.text).to.equal(200);
        expect(answer.headers.get('content-type')).to.equal('text/plain');
        expect(answer.text).to.equal(`GET /simple/pkg/?name=x&y=1 repo=native base=${e2e.url}/ext/demo-v2/native artifacts=1 body=0`);
        const posted = await call('POST', '/ext/demo-v2/native/upload', { body: 'twelve bytes' });
        expect(posted.text).to.equal(`POST /upload? repo=native base=${e2e.url}/ext/demo-v2/native artifacts=1 body=12`);
        expect((await get('/ext/demo-v2/native')).text).to.match(/^GET \/\? repo=native/);

        const missing = await get('/ext/demo-v2/native/missing');
        expect(missing.status).to.equal(404);
        expect(missing.text).to.equal('not found');
        expectError(await get('/ext/demo-v2/native/fail'), 422, 'artifact_invalid', /^request refused$/);
        // Without TRUST_PROXY, forwarded headers do not change the external URLs.
        const forwarded = await get('/ext/demo-v2/native/x', { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'repo.example.com' } });
        expect(forwarded.text).to.contain(`base=${e2e.url}/ext/demo-v2/native`);
      });

      it('enforces visibility and refuses formats and repositories that do not match', async function () {
        await installLocal('good-v2', v2, 'good-v2');
        await createRepository('open', 'demo-v2', true);
        await createRepository('closed', 'demo-v2', false);
        await createRepository('npm-local', 'npm', true);

        expect((await get('/ext/demo-v2/open/simple/', { anonymous: true })).status).to.equal(200);
        expect((await call('POST', '/ext/demo-v2/open/x', { anonymous: true, body: 'x' })).status).to.equal(200);
        expectError(await get('/ext/demo-v2/closed/simple/', { anonymous: true }), 401, 'unauthorized');
        expect((await get('/ext/demo-v2/closed/simple/', asReader)).status).to.equal(200);
        expectError(await get('/ext/npm/npm-local/x'), 404, 'no_native_protocol', /handle_request/);
        expectError(await get('/ext/demo-v2/npm-local/x'), 404, 'not_found', /\/ext\/npm\/npm-local/);
        expectError(await get('/ext/demo-v2/nowhere/x'), 404, 'not_found');

        expect((await call('POST', `${FORMATS}/demo-v2/disable`)).status).to.equal(200);
        expectError(await get('/ext/demo-v2/open/simple/'), 503, 'format_unavailable');
      });
    });
  });
}

describe('native protocol behind a trusted proxy (sqlite)', function () {
  this.timeout(60_000);
  let engine: EngineFixture;
  let e2e: E2E;

  before(async function () {
    engine = sqliteFixture();
    e2e = await startE2E(engine, { TRUST_PROXY: 'true', ALLOWED_HOSTS: '127.0.0.1, repo.example.com' });
  });

  after(async function () {
    await e2e?.close();
    await engine?.dispose();
  });

  it('builds the repository context from X-Forwarded-Proto and X-Forwarded-Host', async function () {
    const dir = await pluginFolder(e2e.localRoot, 'good-v2', manifest('demo-v2-format', '1.0.0', 'demo-v2', '\n[capabilities]\nhandle_request = true\n'), 'good-v2');
    expect((await e2e.call('POST', `${PLUGINS}/install/local`, { body: { path: dir } })).status).to.equal(201);
    expect((await e2e.call('POST', REPOS, { body: { key: 'native', format: 'demo-v2' } })).status).to.equal(201);
    const answer = await e2e.call('GET', '/ext/demo-v2/native/simple/', { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'repo.example.com' } });
    expect(answer.text).to.contain('base=https://repo.example.com/ext/demo-v2/native');
  });
});
