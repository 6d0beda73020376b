import { withBytes } from '../../support/bytes-handler.js';
import { bytesSource } from '../../../supervisor/formats/artifact-source.js';
import { expect } from 'chai';
import { NpmFormatHandler, npmNameFromPath } from '../../../supervisor/formats/core/npm.js';
import { FormatUnavailable } from '../../../supervisor/formats/errors.js';
import { expectInvalid, gzip, tarGz, text, truncateTar, withoutEndMarker, zeroBomb } from './artifacts.js';

const pkgJson = (fields: Record<string, unknown>): string => JSON.stringify(fields);
const npmTarball = (fields: Record<string, unknown>, extra: Record<string, string> = {}): Promise<Buffer> =>
  tarGz({ 'package/package.json': pkgJson(fields), 'package/index.js': 'module.exports = 1;\n', ...extra });

describe('core format: npm', () => {
  const handler = withBytes(new NpmFormatHandler());

  it('declares the core capabilities and has no native protocol', async () => {
    expect(handler.formatKey).to.equal('npm');
    expect(handler.handlerType).to.equal('core');
    expect(handler.capabilities).to.deep.equal({ parse_metadata: true, validate_artifact: true, generate_index: true, handle_request: false });
    let failure: unknown;
    try {
      await handler.handleRequest();
    } catch (error) {
      failure = error;
    }
    expect(failure).to.be.instanceOf(FormatUnavailable);
  });

  it('accepts a package tarball in the registry layout and reads its version', async () => {
    const data = await npmTarball({ name: 'left-pad', version: '1.3.0', main: 'index.js' });
    await handler.validate('left-pad/-/left-pad-1.3.0.tgz', data);
    expect(await handler.parseMetadata('left-pad/-/left-pad-1.3.0.tgz', data)).to.deep.equal({
      path: 'left-pad/-/left-pad-1.3.0.tgz',
      version: '1.3.0',
      contentType: 'application/octet-stream',
      sizeBytes: data.byteLength,
      checksumSha256: null,
    });
  });

  it('accepts a scoped package and a bare file name, and a prerelease version', async () => {
    const scoped = await npmTarball({ name: '@acme/widget', version: '2.0.0-rc.1' });
    await handler.validate('@acme/widget/-/widget-2.0.0-rc.1.tgz', scoped);
    expect((await handler.parseMetadata('@acme/widget-2.0.0-rc.1.tgz', scoped)).version).to.equal('2.0.0-rc.1');
    const plain = await npmTarball({ name: 'left-pad', version: '1.3.0' });
    expect((await handler.parseMetadata('left-pad-1.3.0.tgz', plain)).version).to.equal('1.3.0');
    expect(npmNameFromPath('@acme/widget/-/widget-2.0.0-rc.1.tgz', '2.0.0-rc.1')).to.equal('@acme/widget');
  });

  it('rejects damaged archives with a precise message', async () => {
    const good = await npmTarball({ name: 'a', version: '1.0.0' }, { 'package/big.txt': 'x'.repeat(5000) });
    await expectInvalid(handler.validate('a/-/a-1.0.0.tgz', Buffer.from('PK\u0003\u0004 not a tarball')),
      'the npm package tarball is not gzip-compressed (it does not start with the gzip magic bytes 1f 8b)');
    await expectInvalid(handler.validate('a/-/a-1.0.0.tgz', good.subarray(0, good.length - 20)),
      'the npm package tarball is not a valid gzip stream: unexpected end of file');
    await expectInvalid(handler.validate('a/-/a-1.0.0.tgz', gzip('hello, this is not a tar archive'.repeat(40))),
      'the npm package tarball is not a valid tar archive: TAR_ENTRY_INVALID: checksum failure');
    // cut inside the big file's content, and cut at a block boundary (only the end marker is missing)
    await expectInvalid(handler.validate('a/-/a-1.0.0.tgz', truncateTar(good, 3000)),
      /^the npm package tarball is not a valid tar archive: TAR_BAD_ARCHIVE: Truncated input/);
    await expectInvalid(handler.validate('a/-/a-1.0.0.tgz', truncateTar(good, 700)),
      'the npm package tarball is not a valid tar archive: TAR_BAD_ARCHIVE: Truncated input (needed 512 more bytes, only 188 available)');
    // cut at a block boundary after the last member: only the end-of-archive marker is missing
    await expectInvalid(handler.validate('a/-/a-1.0.0.tgz', withoutEndMarker(good)),
      'the npm package tarball is truncated: the tar archive does not end with its end-of-archive marker');
  });

  it('rejects a tarball without package/package.json or with a bad one', async () => {
    await expectInvalid(handler.validate('a/-/a-1.0.0.tgz', await tarGz({ 'a/package.json': pkgJson({ name: 'a', version: '1.0.0' }) })),
      'the npm package tarball has no package/package.json');
    await expectInvalid(handler.validate('a/-/a-1.0.0.tgz', await tarGz({ 'package/package.json': '{"name": "a", "version": ' })),
      /^package\/package\.json is not valid JSON: /);
    await expectInvalid(handler.validate('a/-/a-1.0.0.tgz', await tarGz({ 'package/package.json': '[1, 2]' })), 'package/package.json is not a JSON object');
    await expectInvalid(handler.validate('a/-/a-1.0.0.tgz', await npmTarball({ version: '1.0.0' })), 'package/package.json has no "name"');
    await expectInvalid(handler.validate('a/-/a-1.0.0.tgz', await npmTarball({ name: 'a' })), 'package/package.json has no "version"');
    await expectInvalid(handler.validate('a/-/a-1.0.0.tgz', await npmTarball({ name: 'a', version: 1 })), '"version" in package/package.json must be a string');
    await expectInvalid(handler.validate('a/-/a-1.0.tgz', await npmTarball({ name: 'a', version: '1.0' })),
      '"1.0" in package/package.json is not a valid semver version');
    await expectInvalid(handler.validate('Abc/-/Abc-1.0.0.tgz', await npmTarball({ name: 'Abc', version: '1.0.0' })),
      '"Abc" in package/package.json is not a valid npm package name: name can no longer contain capital letters');
    await expectInvalid(handler.validate('_a/-/_a-1.0.0.tgz', await npmTarball({ name: '_a', version: '1.0.0' })),
      '"_a" in package/package.json is not a valid npm package name: name cannot start with an underscore');
    await expectInvalid(handler.validate('x/-/x-1.0.0.tgz', await npmTarball({ name: 'a b', version: '1.0.0' })),
      '"a b" in package/package.json is not a valid npm package name: name can only contain URL-friendly characters');
  });

  it('rejects a path that disagrees with the package name or version', async () => {
    const data = await npmTarball({ name: 'left-pad', version: '1.3.0' });
    await expectInvalid(handler.validate('left-pad/-/left-pad-1.2.0.tgz', data),
      'the path left-pad/-/left-pad-1.2.0.tgz does not match left-pad@1.3.0 of package/package.json: expected left-pad/-/left-pad-1.3.0.tgz');
    await expectInvalid(handler.validate('right-pad/-/right-pad-1.3.0.tgz', data),
      'the path right-pad/-/right-pad-1.3.0.tgz does not match left-pad@1.3.0 of package/package.json: expected left-pad/-/left-pad-1.3.0.tgz');
    await expectInvalid(handler.parseMetadata('left-pad/-/left-pad-1.3.0.zip', data), 'an npm package must be a .tgz file, not left-pad-1.3.0.zip');
    const scoped = await npmTarball({ name: '@acme/widget', version: '1.0.0' });
    await expectInvalid(handler.validate('widget/-/widget-1.0.0.tgz', scoped),
      'the path widget/-/widget-1.0.0.tgz does not match @acme/widget@1.0.0 of package/package.json: expected @acme/widget/-/widget-1.0.0.tgz');
  });

  it('caps what it decompresses: an oversized manifest and a decompression bomb are refused', async () => {
    const huge = await tarGz({ 'package/package.json': pkgJson({ name: 'a', version: '1.0.0', pad: 'x'.repeat(1024 * 1024) }) });
    await expectInvalid(handler.validate('a/-/a-1.0.0.tgz', huge), /^package\/package\.json in the npm package tarball is larger than 1 MiB \(\d+ bytes\)$/);
    const capped = new NpmFormatHandler({ totalCap: 1024 * 1024 });
    await expectInvalid(capped.validate('a/-/a-1.0.0.tgz', bytesSource(zeroBomb(8 * 1024 * 1024))), 'the npm package tarball decompresses to more than 1 MiB');
  });

  it('generates a packument per package with versions, tarballs, integrity and latest by semver', async () => {
    const sha = 'ab'.repeat(32);
    const artifacts = [
      { path: 'left-pad/-/left-pad-1.10.0.tgz', version: '1.10.0', contentType: 'application/octet-stream', sizeBytes: 10, checksumSha256: sha },
      { path: 'left-pad/-/left-pad-2.0.0-beta.1.tgz', version: '2.0.0-beta.1', contentType: 'application/octet-stream', sizeBytes: 10, checksumSha256: null },
      { path: 'left-pad/-/left-pad-1.9.0.tgz', version: '1.9.0', contentType: 'application/octet-stream', sizeBytes: 10, checksumSha256: null },
      { path: '@acme/widget/-/widget-0.1.0.tgz', version: '0.1.0', contentType: 'application/octet-stream', sizeBytes: 10, checksumSha256: null },
    ];
    const files = await handler.generateIndex(artifacts);
    expect(files.map((file) => file.path)).to.deep.equal(['@acme/widget', 'left-pad']);
    const packument = JSON.parse(text(files[1]!.content));
    expect(packument.name).to.equal('left-pad');
    expect(packument['dist-tags']).to.deep.equal({ latest: '1.10.0' });
    expect(Object.keys(packument.versions)).to.deep.equal(['1.9.0', '1.10.0', '2.0.0-beta.1']);
    expect(packument.versions['1.10.0']).to.deep.equal({
      name: 'left-pad',
      version: '1.10.0',
      dist: { tarball: 'left-pad/-/left-pad-1.10.0.tgz', integrity: `sha256-${Buffer.from(sha, 'hex').toString('base64')}` },
    });
    expect(packument.versions['1.9.0'].dist).to.deep.equal({ tarball: 'left-pad/-/left-pad-1.9.0.tgz' });
    const scoped = JSON.parse(text(files[0]!.content));
    expect(scoped).to.deep.equal({
      name: '@acme/widget',
      'dist-tags': { latest: '0.1.0' },
      versions: { '0.1.0': { name: '@acme/widget', version: '0.1.0', dist: { tarball: 'widget/-/widget-0.1.0.tgz' } } },
    });
    // only prereleases: the highest one is latest
    const pre = await handler.generateIndex([
      { path: 'p/-/p-1.0.0-alpha.10.tgz', version: '1.0.0-alpha.10', contentType: 'application/octet-stream', sizeBytes: 1, checksumSha256: null },
      { path: 'p/-/p-1.0.0-alpha.9.tgz', version: '1.0.0-alpha.9', contentType: 'application/octet-stream', sizeBytes: 1, checksumSha256: null },
    ]);
    expect(JSON.parse(text(pre[0]!.content))['dist-tags'].latest).to.equal('1.0.0-alpha.10');
  });

  it('round trip: metadata parsed from real tarballs indexes into a packument', async () => {
    const metas = [];
    for (const version of ['0.9.0', '0.10.0']) {
      const artifactPath = `tiny/-/tiny-${version}.tgz`;
      metas.push(await handler.parseMetadata(artifactPath, await npmTarball({ name: 'tiny', version })));
    }
    const [file] = await handler.generateIndex(metas);
    expect(JSON.parse(text(file!.content))['dist-tags'].latest).to.equal('0.10.0');
  });
});
