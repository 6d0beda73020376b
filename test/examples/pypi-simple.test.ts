// The pypi-simple example plugin (examples/pypi-simple) in the real runtime: file-name
// checks, the static PEP 503 tree, and the simple API as pip would call it through
// /ext/pypi-simple/<repo>/ (the server passes the path below the repository, decoded).
import { expect } from 'chai';
import { gzipSync } from 'node:zlib';
import yazl from 'yazl';
import { FormatKey, GenerateIndex, HandleRequest, ParseMetadata, Validate, type ArtifactMetadata, type HttpResponse } from '../../protocol/methods.js';
import { rejection, startExample, type RunningExample } from './support.js';

/** A small but real ZIP archive, as a wheel is. */
async function zipOf(files: Record<string, string>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, contents] of Object.entries(files)) zip.addBuffer(Buffer.from(contents), name);
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const context = {
  repoKey: 'py',
  baseUrl: 'https://keeper.test/ext/pypi-simple/py',
  downloadBaseUrl: 'https://keeper.test/api/v1/repositories/py/artifacts',
};

const sha = (digit: string) => digit.repeat(64);
const artifact = (path: string, version: string, checksum: string | null): ArtifactMetadata => ({
  path,
  version,
  contentType: path.endsWith('.whl') ? 'application/zip' : 'application/gzip',
  sizeBytes: 100,
  checksumSha256: checksum,
});

const ARTIFACTS = [
  artifact('zope/zope.interface-6.0-cp311-cp311-manylinux_2_17_x86_64.whl', '6.0', sha('a')),
  artifact('zope/zope.interface-6.0.tar.gz', '6.0', sha('b')),
  artifact('python-dateutil-2.8.2.tar.gz', '2.8.2', null),
  artifact('odd name/Flask-3.0.0-py3-none-any.whl', '3.0.0', sha('c')),
];

/** The anchors of a simple API page, as pip reads them. */
function anchors(body: Uint8Array): Array<{ href: string; text: string }> {
  const html = Buffer.from(body).toString('utf8');
  return [...html.matchAll(/<a href="([^"]*)">([^<]*)<\/a>/g)].map(([, href, text]) => ({ href: href!, text: text! }));
}

describe('example plugin pypi-simple (TypeScript, v2 world, real runtime)', function () {
  this.timeout(180_000);
  let plugin: RunningExample;
  let wheel: Buffer;
  const sdist = gzipSync(Buffer.alloc(1024));

  before(async () => {
    plugin = await startExample('pypi-simple');
    console.log(`      pypi-simple component: ${plugin.size} bytes`);
    wheel = await zipOf({ 'pkg/__init__.py': '', 'pkg-1.0.dist-info/METADATA': 'Name: pkg\nVersion: 1.0\n' });
  });
  after(async () => {
    await plugin?.stop();
  });

  const get = (path: string, method = 'GET'): Promise<HttpResponse> =>
    plugin.pool.call(HandleRequest, { request: { method, path, query: '', headers: [], body: new Uint8Array(0) }, context, artifacts: ARTIFACTS });
  const header = (response: HttpResponse, name: string) => response.headers.find(([key]) => key === name)?.[1];

  it('serves format key "pypi-simple"', async () => {
    expect(await plugin.pool.call(FormatKey)).to.equal('pypi-simple');
  });

  it('accepts wheels and sdists, versioned by file name', async () => {
    for (const [path, data, version] of [
      ['requests-2.31.0-py3-none-any.whl', wheel, '2.31.0'],
      ['pkg-1.0.post2-1-cp39-abi3-linux_x86_64.whl', wheel, '1.0.post2'],
      ['python-dateutil-2.8.2.tar.gz', sdist, '2.8.2'],
      ['legacy-1.0-1.tar.gz', sdist, '1.0-1'],
      ['torch-2.1.0+cpu-cp311-cp311-linux_x86_64.whl', wheel, '2.1.0+cpu'],
    ] as const) {
      expect(await plugin.pool.call(Validate, { path, data }), path).to.equal(null);
      const metadata = await plugin.pool.call(ParseMetadata, { path: `some/dir/${path}`, data });
      expect(metadata, path).to.include({ path: `some/dir/${path}`, version, sizeBytes: data.byteLength });
    }
    expect(await plugin.pool.call(ParseMetadata, { path: 'a-1.0-py3-none-any.whl', data: wheel })).to.include({ contentType: 'application/zip' });
    expect(await plugin.pool.call(ParseMetadata, { path: 'a-1.0.tar.gz', data: sdist })).to.include({ contentType: 'application/gzip' });
  });

  it('rejects bad file names and contents, saying why', async () => {
    const cases: Array<[string, Uint8Array, string]> = [
      ['requests-2.31.0.whl', wheel, '"requests-2.31.0.whl" is not a wheel file name (PEP 427): expected {distribution}-{version}(-{build tag})?-{python tag}-{abi tag}-{platform tag}.whl'],
      ['requests-two-py3-none-any.whl', wheel, '"requests-two-py3-none-any.whl": "two" is not a PEP 440 version'],
      ['pkg-1.0-x1-py3-none-any.whl', wheel, '"pkg-1.0-x1-py3-none-any.whl": the build tag "x1" must start with a digit'],
      ['pkg-1.0-py3-none-any.whl', sdist, '"pkg-1.0-py3-none-any.whl" is not a ZIP archive, which a wheel is'],
      ['pkg-1.0.tar.gz', wheel, '"pkg-1.0.tar.gz" is not gzip-compressed, which a .tar.gz sdist is'],
      ['pkg.tar.gz', sdist, '"pkg.tar.gz" is not an sdist file name: expected {name}-{version}.tar.gz with a PEP 440 version'],
      ['pkg-1.0.exe', wheel, '"pkg-1.0.exe" is neither a wheel (.whl) nor an sdist (.tar.gz)'],
    ];
    for (const [path, data, message] of cases) expect(await rejection(plugin.pool, path, data), path).to.equal(message);
  });

  it('generates a static PEP 503 tree with relative links', async () => {
    const files = await plugin.pool.call(GenerateIndex, { artifacts: ARTIFACTS });
    expect(files!.map((file) => file.path)).to.deep.equal([
      'simple/index.html',
      'simple/flask/index.html',
      'simple/python-dateutil/index.html',
      'simple/zope-interface/index.html',
    ]);
    expect(anchors(files![0]!.content)).to.deep.equal([
      { href: 'flask/', text: 'flask' },
      { href: 'python-dateutil/', text: 'python-dateutil' },
      { href: 'zope-interface/', text: 'zope-interface' },
    ]);
    expect(anchors(files![3]!.content)).to.deep.equal([
      { href: `../../zope/zope.interface-6.0-cp311-cp311-manylinux_2_17_x86_64.whl#sha256=${sha('a')}`, text: 'zope.interface-6.0-cp311-cp311-manylinux_2_17_x86_64.whl' },
      { href: `../../zope/zope.interface-6.0.tar.gz#sha256=${sha('b')}`, text: 'zope.interface-6.0.tar.gz' },
    ]);
    const empty = await plugin.pool.call(GenerateIndex, { artifacts: [] });
    expect(empty!.map((file) => file.path)).to.deep.equal(['simple/index.html']);
  });

  describe('the simple API (handle-request)', () => {
    it('lists the projects at /simple/', async () => {
      const response = await get('/simple/');
      expect(response.status).to.equal(200);
      expect(header(response, 'content-type')).to.equal('text/html; charset=utf-8');
      const html = Buffer.from(response.body).toString('utf8');
      expect(html).to.contain('<meta name="pypi:repository-version" content="1.0">');
      expect(anchors(response.body).map((link) => link.href)).to.deep.equal(['flask/', 'python-dateutil/', 'zope-interface/']);
    });

    it("links a project's files to the server's downloads, with their sha256", async () => {
      const response = await get('/simple/flask/');
      expect(response.status).to.equal(200);
      expect(anchors(response.body)).to.deep.equal([
        { href: `${context.downloadBaseUrl}/odd%20name/Flask-3.0.0-py3-none-any.whl#sha256=${sha('c')}`, text: 'Flask-3.0.0-py3-none-any.whl' },
      ]);
      // Without a checksum there is no fragment.
      expect(anchors((await get('/simple/python-dateutil/')).body)[0]!.href).to.equal(`${context.downloadBaseUrl}/python-dateutil-2.8.2.tar.gz`);
    });

    it('redirects to normalized names and trailing slashes, 404 for unknown projects', async () => {
      for (const [path, location] of [
        ['/simple/Zope_Interface/', '/simple/zope-interface/'],
        ['/simple/zope.interface/', '/simple/zope-interface/'],
        ['/simple/flask', '/simple/flask/'],
        ['/simple', '/simple/'],
      ] as const) {
        const response = await get(path);
        expect(response.status, path).to.equal(301);
        expect(header(response, 'location'), path).to.equal(`${context.baseUrl}${location}`);
      }
      const missing = await get('/simple/numpy/');
      expect(missing.status).to.equal(404);
      expect(Buffer.from(missing.body).toString()).to.equal('no project named numpy in this repository');
    });

    it('redirects file downloads to the download base URL', async () => {
      for (const path of ['/files/odd name/Flask-3.0.0-py3-none-any.whl', '/odd name/Flask-3.0.0-py3-none-any.whl']) {
        const response = await get(path);
        expect(response.status, path).to.equal(302);
        expect(header(response, 'location'), path).to.equal(`${context.downloadBaseUrl}/odd%20name/Flask-3.0.0-py3-none-any.whl`);
      }
      expect((await get('/files/not-here-1.0.tar.gz')).status).to.equal(404);
    });

    it('answers HEAD without a body and refuses other methods', async () => {
      const head = await get('/simple/', 'HEAD');
      expect(head.status).to.equal(200);
      expect(head.body.byteLength).to.equal(0);
      const post = await get('/simple/', 'POST');
      expect(post.status).to.equal(405);
      expect(header(post, 'allow')).to.equal('GET, HEAD');
    });
  });
});
