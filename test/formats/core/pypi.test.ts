import { withBytes } from '../../support/bytes-handler.js';
import { expect } from 'chai';
import { PypiFormatHandler, normalizeProjectName, parsePypiFileName } from '../../../supervisor/formats/core/pypi.js';
import { expectInvalid, gzip, tarGz, text, zip } from './artifacts.js';

const metadata = (name: string, version: string): string =>
  `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\nSummary: A test package\nDescription-Content-Type: text/markdown\n\n# Readme\nName: not a header\n`;
const wheel = (distInfo: string, name: string, version: string): Promise<Buffer> =>
  zip({
    'my_pkg/__init__.py': '__version__ = "1"\n',
    [`${distInfo}/METADATA`]: metadata(name, version),
    [`${distInfo}/WHEEL`]: 'Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
    [`${distInfo}/RECORD`]: '',
  });
const meta = (path: string, version: string, checksumSha256: string | null = null) => ({ path, version, contentType: 'application/zip', sizeBytes: 1, checksumSha256 });
const hrefs = (html: string): string[] => [...html.matchAll(/<a href="([^"]*)">([^<]*)<\/a>/g)].map((m) => `${m[1]} ${m[2]}`);

describe('core format: pypi', () => {
  const handler = withBytes(new PypiFormatHandler());

  it('parses wheel and sdist file names per the packaging specs', () => {
    expect(parsePypiFileName('My_Pkg-1.0.0-py3-none-any.whl')).to.deep.equal({ kind: 'wheel', name: 'My_Pkg', project: 'my-pkg', version: '1.0.0', extension: 'whl' });
    expect(parsePypiFileName('numpy-2.0.0-1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl')).to.include({ project: 'numpy', version: '2.0.0' });
    expect(parsePypiFileName('zope.interface-6.0.tar.gz')).to.include({ kind: 'sdist', project: 'zope-interface', version: '6.0' });
    expect(parsePypiFileName('python-dateutil-2.9.0.post0.tar.gz')).to.include({ project: 'python-dateutil', version: '2.9.0.post0' });
    expect(normalizeProjectName('Foo__Bar.baz')).to.equal('foo-bar-baz');
  });

  it('accepts a wheel whose METADATA agrees with the file name', async () => {
    const data = await wheel('my_pkg-1.0.0.dist-info', 'My.Pkg', '1.0.0');
    await handler.validate('my_pkg-1.0.0-py3-none-any.whl', data);
    expect(await handler.parseMetadata('packages/my_pkg-1.0.0-py3-none-any.whl', data)).to.deep.equal({
      path: 'packages/my_pkg-1.0.0-py3-none-any.whl', version: '1.0.0', contentType: 'application/zip', sizeBytes: data.byteLength, checksumSha256: null,
    });
  });

  it('accepts an sdist with its PKG-INFO', async () => {
    const data = await tarGz({ 'my_pkg-1.0.0/PKG-INFO': metadata('my-pkg', '1.0.0'), 'my_pkg-1.0.0/setup.py': 'pass\n' });
    expect(await handler.parseMetadata('my_pkg-1.0.0.tar.gz', data)).to.include({ version: '1.0.0', contentType: 'application/gzip' });
    const legacy = await zip({ 'my_pkg-1.0.0/PKG-INFO': metadata('my-pkg', '1.0.0') });
    expect(await handler.parseMetadata('my_pkg-1.0.0.zip', legacy)).to.include({ version: '1.0.0', contentType: 'application/zip' });
  });

  it('rejects bad file names', async () => {
    const data = await wheel('my_pkg-1.0.0.dist-info', 'my-pkg', '1.0.0');
    await expectInvalid(handler.validate('my_pkg-1.0.0-any.whl', data),
      'my_pkg-1.0.0-any.whl is not a valid wheel file name: expected {name}-{version}(-{build})?-{python tag}-{abi tag}-{platform tag}.whl');
    await expectInvalid(handler.validate('my_pkg-one-py3-none-any.whl', data), 'my_pkg-one-py3-none-any.whl is not a valid wheel file name: "one" is not a valid PEP 440 version');
    await expectInvalid(handler.validate('my_pkg-1.0-x1-py3-none-any.whl', data), 'my_pkg-1.0-x1-py3-none-any.whl is not a valid wheel file name: the build tag "x1" must start with a digit');
    await expectInvalid(handler.validate('my_pkg-1.0.0.egg', data), 'my_pkg-1.0.0.egg is not a Python distribution: expected a .whl wheel or a .tar.gz (or .zip) sdist');
    await expectInvalid(handler.validate('my_pkg.tar.gz', data), 'my_pkg.tar.gz is not a valid sdist file name: expected {name}-{version}.tar.gz with a PEP 440 version');
  });

  it('rejects damaged or mismatched wheels', async () => {
    const at = 'my_pkg-1.0.0-py3-none-any.whl';
    await expectInvalid(handler.validate(at, Buffer.from('garbage')), /^the wheel is not a valid zip archive: End of central directory record signature not found/);
    await expectInvalid(handler.validate(at, await zip({ 'my_pkg/__init__.py': '' })), 'the wheel has no *.dist-info/METADATA');
    await expectInvalid(handler.validate(at, await wheel('my_pkg-1.0.0.dist-info', 'other-pkg', '1.0.0')),
      'Name other-pkg in my_pkg-1.0.0.dist-info/METADATA does not match the file name (my_pkg)');
    await expectInvalid(handler.validate(at, await wheel('my_pkg-1.0.0.dist-info', 'my_pkg', '1.0.1')),
      'Version 1.0.1 in my_pkg-1.0.0.dist-info/METADATA does not match the file name (1.0.0)');
    await expectInvalid(handler.validate(at, await zip({ 'my_pkg-1.0.0.dist-info/METADATA': 'Metadata-Version: 2.1\nVersion: 1.0.0\n' })),
      'my_pkg-1.0.0.dist-info/METADATA has no Name field');
    await expectInvalid(handler.validate(at, await zip({ 'my_pkg-1.0.0.dist-info/METADATA': 'this is not metadata\n' })),
      'my_pkg-1.0.0.dist-info/METADATA is not valid core metadata: malformed header line "this is not metadata"');
  });

  it('rejects damaged or mismatched sdists', async () => {
    await expectInvalid(handler.validate('my_pkg-1.0.0.tar.gz', gzip('not a tar'.repeat(100))), /^the sdist is not a valid tar archive: /);
    await expectInvalid(handler.validate('my_pkg-1.0.0.tar.gz', await tarGz({ 'my_pkg-1.0.0/setup.py': '' })), 'the sdist has no my_pkg-1.0.0/PKG-INFO');
    await expectInvalid(handler.validate('my_pkg-1.0.0.tar.gz', await tarGz({ 'my_pkg-1.0.0/PKG-INFO': metadata('my-pkg', '2.0') })),
      'Version 2.0 in my_pkg-1.0.0/PKG-INFO does not match the file name (1.0.0)');
  });

  it('generates PEP 503 simple pages with normalized projects and sha256 fragments', async () => {
    const sha = 'cd'.repeat(32);
    const files = await handler.generateIndex([
      meta('pkgs/My_Pkg-1.1.0-py3-none-any.whl', '1.1.0', sha),
      meta('pkgs/my.pkg-1.0.0.tar.gz', '1.0.0'),
      meta('pkgs/requests-2.32.0-py3-none-any.whl', '2.32.0'),
      meta('notes.txt', '1'),
    ]);
    expect(files.map((file) => file.path)).to.deep.equal(['simple/index.html', 'simple/my-pkg/index.html', 'simple/requests/index.html']);
    const root = text(files[0]!.content);
    expect(root).to.match(/^<!DOCTYPE html>/);
    expect(root).to.include('<meta name="pypi:repository-version" content="1.0">');
    expect(hrefs(root)).to.deep.equal(['my-pkg/ my-pkg', 'requests/ requests']);
    expect(hrefs(text(files[1]!.content))).to.deep.equal([
      `../../pkgs/My_Pkg-1.1.0-py3-none-any.whl#sha256=${sha} My_Pkg-1.1.0-py3-none-any.whl`,
      '../../pkgs/my.pkg-1.0.0.tar.gz my.pkg-1.0.0.tar.gz',
    ]);
    expect(text(files[1]!.content)).to.include('<title>Links for my-pkg</title>');
  });
});
