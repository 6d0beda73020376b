import { withBytes } from '../../support/bytes-handler.js';
import { expect } from 'chai';
import { CargoFormatHandler, cargoIndexPath } from '../../../supervisor/formats/core/cargo.js';
import { expectInvalid, gzip, tarGz, text, truncateTar } from './artifacts.js';

const cargoToml = (name: string, version: string): string =>
  `[package]\nname = "${name}"\nversion = "${version}"\nedition = "2021"\n\n[dependencies]\nserde = "1"\n`;
const crate = (stem: string, toml: string): Promise<Buffer> =>
  tarGz({ [`${stem}/Cargo.toml`]: toml, [`${stem}/src/lib.rs`]: 'pub fn f() {}\n'.repeat(100) });
const meta = (path: string, version: string, checksumSha256: string | null = null) => ({ path, version, contentType: 'application/octet-stream', sizeBytes: 1, checksumSha256 });

describe('core format: cargo', () => {
  const handler = withBytes(new CargoFormatHandler());

  it('accepts a crate whose Cargo.toml agrees with the file name', async () => {
    const data = await crate('serde_json-1.0.117', cargoToml('serde_json', '1.0.117'));
    await handler.validate('crates/serde_json/serde_json-1.0.117.crate', data);
    expect(await handler.parseMetadata('serde_json-1.0.117.crate', data)).to.deep.equal({
      path: 'serde_json-1.0.117.crate', version: '1.0.117', contentType: 'application/octet-stream', sizeBytes: data.byteLength, checksumSha256: null,
    });
    const pre = await crate('my-crate-0.1.0-alpha.1', cargoToml('my-crate', '0.1.0-alpha.1'));
    expect((await handler.parseMetadata('my-crate-0.1.0-alpha.1.crate', pre)).version).to.equal('0.1.0-alpha.1');
  });

  it('rejects damaged, incomplete or mismatched crates with a precise message', async () => {
    const at = 'foo-1.0.0.crate';
    const good = await crate('foo-1.0.0', cargoToml('foo', '1.0.0'));
    await expectInvalid(handler.validate('foo-1.0.0.tar', good), 'a crate must be a .crate file, not foo-1.0.0.tar');
    await expectInvalid(handler.validate(at, Buffer.from('PK not gzip')), 'the crate is not gzip-compressed (it does not start with the gzip magic bytes 1f 8b)');
    await expectInvalid(handler.validate(at, truncateTar(good, 1800)), /^the crate is not a valid tar archive: TAR_BAD_ARCHIVE: Truncated input/);
    await expectInvalid(handler.validate(at, gzip('x')), 'the crate is not a valid tar archive: TAR_BAD_ARCHIVE: Unrecognized archive format');
    await expectInvalid(handler.validate(at, await tarGz({ 'foo-1.0.0/src/lib.rs': '' })), 'the crate has no foo-1.0.0/Cargo.toml');
    await expectInvalid(handler.validate(at, await crate('foo-1.0.0', '[package\nname = "foo"')), /^foo-1\.0\.0\/Cargo\.toml is not valid TOML: /);
    await expectInvalid(handler.validate(at, await crate('foo-1.0.0', '[dependencies]\n')), 'foo-1.0.0/Cargo.toml has no [package] table');
    await expectInvalid(handler.validate(at, await crate('foo-1.0.0', '[package]\nversion = "1.0.0"\n')), 'foo-1.0.0/Cargo.toml has no package.name');
    await expectInvalid(handler.validate(at, await crate('foo-1.0.0', '[package]\nname = "foo"\n')), 'foo-1.0.0/Cargo.toml has no package.version');
    await expectInvalid(handler.validate(at, await crate('foo-1.0.0', '[package]\nname = "foo"\nversion.workspace = true\n')),
      'package.version in foo-1.0.0/Cargo.toml must be a string (a packaged crate has no workspace inheritance left)');
    await expectInvalid(handler.validate('foo-1.0.crate', await crate('foo-1.0', cargoToml('foo', '1.0'))),
      'package.version "1.0" in foo-1.0/Cargo.toml is not a valid semver version');
    await expectInvalid(handler.validate('9lives-1.0.0.crate', await crate('9lives-1.0.0', cargoToml('9lives', '1.0.0'))),
      'package.name "9lives" in 9lives-1.0.0/Cargo.toml is not a valid crate name (a letter, then up to 63 letters, digits, - or _)');
    await expectInvalid(handler.validate(at, await crate('foo-1.0.0', cargoToml('bar', '1.0.0'))),
      'the file name foo-1.0.0.crate does not match bar 1.0.0 of Cargo.toml: expected bar-1.0.0.crate');
    await expectInvalid(handler.validate(at, await crate('foo-1.0.0', cargoToml('foo', '1.0.1'))),
      'the file name foo-1.0.0.crate does not match foo 1.0.1 of Cargo.toml: expected foo-1.0.1.crate');
  });

  it('places crates in the index by cargo\'s rules', () => {
    expect(['a', 'ab', 'abc', 'abcd', 'Serde_JSON'].map(cargoIndexPath)).to.deep.equal(['1/a', '2/ab', '3/a/abc', 'ab/cd/abcd', 'se/rd/serde_json']);
  });

  it('generates one index file per crate, one JSON line per version in semver order', async () => {
    const sha = 'ef'.repeat(32);
    const files = await handler.generateIndex([
      meta('serde-1.10.0.crate', '1.10.0', sha),
      meta('serde-1.9.0.crate', '1.9.0', 'AA'.repeat(32)),
      meta('serde-1.10.0-rc.1.crate', '1.10.0-rc.1'),
      meta('ab-0.1.0.crate', '0.1.0'),
      meta('junk.txt', '1.0.0'),
    ]);
    expect(files.map((file) => file.path)).to.deep.equal(['2/ab', 'se/rd/serde']);
    const lines = text(files[1]!.content).trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(lines.map((line) => line.vers)).to.deep.equal(['1.9.0', '1.10.0-rc.1', '1.10.0']);
    expect(lines[2]).to.deep.equal({ name: 'serde', vers: '1.10.0', deps: [], cksum: sha, features: {}, yanked: false });
    expect(lines[0].cksum).to.equal('aa'.repeat(32));
    expect(text(files[0]!.content).endsWith('\n')).to.equal(true);
  });
});
