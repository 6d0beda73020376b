// A real client: Python's pip downloads wheels through the pypi-simple example
// plugin's /ext index (PEP 503 pages with #sha256 fragments, links to the server's
// downloads), from a running service, anonymously, as it would from a public index.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { execa } from 'execa';
import { sqliteFixture, type EngineFixture } from '../support/engines.js';
import { repoRoot } from '../support/fixtures.js';
import { tarGz, zip } from '../formats/core/artifacts.js';
import { pluginFolder, startE2E, type E2E } from './harness.js';

const REPOS = '/api/v1/repositories';

/** A minimal, real wheel: a module and the dist-info pip reads (METADATA, WHEEL, RECORD). */
function wheel(project: string, version: string): Promise<Buffer> {
  const dist = `${project.replace(/-/g, '_')}-${version}.dist-info`;
  return zip({
    [`${project.replace(/-/g, '_')}/__init__.py`]: `VERSION = "${version}"\n`,
    [`${dist}/METADATA`]: `Metadata-Version: 2.1\nName: ${project}\nVersion: ${version}\nSummary: a test package\n`,
    [`${dist}/WHEEL`]: 'Wheel-Version: 1.0\nGenerator: plugin-keeper-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
    [`${dist}/RECORD`]: '',
  });
}

describe('pip against the pypi-simple plugin (/ext)', function () {
  this.timeout(180_000);
  let engine: EngineFixture;
  let e2e: E2E;
  let downloads: string;

  before(async function () {
    engine = sqliteFixture();
    e2e = await startE2E(engine);
    downloads = await mkdtemp(path.join(os.tmpdir(), 'pk-pip-'));
    const manifest = await readFile(path.join(repoRoot, 'examples', 'pypi-simple', 'plugin.toml'), 'utf8');
    const dir = await pluginFolder(e2e.localRoot, 'pypi-simple', manifest, 'pypi-simple');
    const installed = await e2e.call('POST', '/api/v1/plugins/install/local', { body: { path: dir } });
    expect(installed.status, installed.text).to.equal(201);
    const created = await e2e.call('POST', REPOS, { body: { key: 'py', format: 'pypi-simple', public: true } });
    expect(created.status, created.text).to.equal(201);
  });

  after(async function () {
    await e2e?.close();
    await engine?.dispose();
    if (downloads) await rm(downloads, { recursive: true, force: true });
  });

  const pipFrom = (indexPath: string, ...args: string[]) =>
    execa('python3', ['-m', 'pip', 'download', '--no-deps', '--no-cache-dir', '--disable-pip-version-check', '--dest', downloads, '--index-url', `${e2e.url}${indexPath}`, ...args], {
      reject: false,
      // No pip configuration or proxy of the machine running the tests.
      env: { PIP_CONFIG_FILE: '/dev/null', NO_PROXY: '*' },
    });
  const pip = (...args: string[]) => pipFrom('/ext/pypi-simple/py/simple/', ...args);

  it('downloads wheels, verified against the server checksums, and lists sdists', async function () {
    const wheelBytes = await wheel('demo-pkg', '1.0.0');
    const sdistBytes = await tarGz({ 'demo_tool-2.1.0/PKG-INFO': 'Metadata-Version: 2.1\nName: demo-tool\nVersion: 2.1.0\n', 'demo_tool-2.1.0/setup.py': 'from setuptools import setup\nsetup(name="demo-tool", version="2.1.0")\n' });
    for (const [file, bytes] of [
      ['demo_pkg-1.0.0-py3-none-any.whl', wheelBytes],
      ['demo_pkg-0.9.0-py3-none-any.whl', await wheel('demo-pkg', '0.9.0')],
      ['demo_tool-2.1.0.tar.gz', sdistBytes],
    ] as const) {
      const uploaded = await e2e.call('PUT', `${REPOS}/py/artifacts/${file}`, { body: bytes });
      expect(uploaded.status, uploaded.text).to.equal(201);
    }

    // pip picks the newest version of the normalised name, follows the link to the download
    // route, and checks the #sha256 fragment against what it received.
    const fetched = await pip('Demo.Pkg');
    expect(fetched.exitCode, `${fetched.stdout}\n${fetched.stderr}`).to.equal(0);
    expect(await readdir(downloads)).to.deep.equal(['demo_pkg-1.0.0-py3-none-any.whl']);
    const saved = await readFile(path.join(downloads, 'demo_pkg-1.0.0-py3-none-any.whl'));
    expect(createHash('sha256').update(saved).digest('hex')).to.equal(createHash('sha256').update(wheelBytes).digest('hex'));

    const pinned = await pip('demo-pkg==0.9.0');
    expect(pinned.exitCode, `${pinned.stdout}\n${pinned.stderr}`).to.equal(0);

    // An sdist is listed the same way (pip would need setuptools and wheel to prepare its
    // metadata, which this machine's Python lacks, so the link is followed here by hand).
    const page = await e2e.call('GET', '/ext/pypi-simple/py/simple/demo-tool/', { anonymous: true });
    const href = /href="([^"]+demo_tool-2\.1\.0\.tar\.gz)#sha256=([0-9a-f]{64})"/.exec(page.text);
    expect(href, page.text).to.not.equal(null);
    expect(href![2]).to.equal(createHash('sha256').update(sdistBytes).digest('hex'));
    const sdist = await fetch(href![1]);
    expect(Buffer.from(await sdist.arrayBuffer()).equals(sdistBytes)).to.equal(true);
  });

  it('downloads from a core pypi repository through its generated index (relative links into the artifacts)', async function () {
    expect((await e2e.call('POST', REPOS, { body: { key: 'core-py', format: 'pypi', public: true } })).status).to.equal(201);
    const bytes = await wheel('core-pkg', '2.0.0');
    const uploaded = await e2e.call('PUT', `${REPOS}/core-py/artifacts/core_pkg-2.0.0-py3-none-any.whl`, { body: bytes });
    expect(uploaded.status, uploaded.text).to.equal(201);
    const fetched = await pipFrom(`${REPOS}/core-py/index/simple/`, 'core-pkg');
    expect(fetched.exitCode, `${fetched.stdout}\n${fetched.stderr}`).to.equal(0);
    expect((await readFile(path.join(downloads, 'core_pkg-2.0.0-py3-none-any.whl'))).equals(bytes)).to.equal(true);
  });

  it('reports a missing project as pip does for any index', async function () {
    const missing = await pip('no-such-project');
    expect(missing.exitCode).to.not.equal(0);
    expect(missing.stderr).to.match(/No matching distribution found for no-such-project/);
  });
});
