import { withBytes } from '../../support/bytes-handler.js';
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { RubygemsFormatHandler, compareGemVersions } from '../../../supervisor/formats/core/rubygems.js';
import { bytes, expectInvalid, gemSpecYaml, gzip, makeGem, makeTar, text } from './packages.js';

describe('core format rubygems', () => {
  const handler = withBytes(new RubygemsFormatHandler());

  it('declares itself a core handler with an index', () => {
    expect(handler.formatKey).to.equal('rubygems');
    expect(handler.capabilities).to.deep.equal({ parse_metadata: true, validate_artifact: true, generate_index: true, handle_request: false });
  });

  it('reads name and version from the Gem::Specification', async () => {
    const gem = makeGem({ name: 'demo', version: '1.2.0' });
    expect(await handler.parseMetadata('gems/demo-1.2.0.gem', gem)).to.deep.equal({
      path: 'gems/demo-1.2.0.gem',
      version: '1.2.0',
      contentType: 'application/octet-stream',
      sizeBytes: gem.byteLength,
      checksumSha256: null,
    });
    const native = makeGem({ metadata: gemSpecYaml('nokogiri', '1.16.0', 'x86_64-linux') });
    expect((await handler.parseMetadata('nokogiri-1.16.0-x86_64-linux.gem', native)).version).to.equal('1.16.0');
    // A version YAML would read as a float stays a string.
    expect((await handler.parseMetadata('rake-13.0.gem', makeGem({ name: 'rake', version: '13.0' }))).version).to.equal('13.0');
  });

  it('refuses a YAML alias bomb in the metadata as an invalid artifact, and accepts a few aliases', async () => {
    const laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) {
      const previous = String.fromCharCode(96 + i);
      laughs.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${previous}`).join(',')}]`);
    }
    const bomb = gemSpecYaml('demo', '1.0.0') + laughs.join('\n') + '\n';
    await expectInvalid(handler.validate('demo-1.0.0.gem', makeGem({ metadata: bomb })), /^the gem's metadata could not be read: .*alias/i);
    const aliased = gemSpecYaml('demo', '1.0.0') + 'req: &1 [">= 0"]\nother: *1\n';
    expect((await handler.parseMetadata('demo-1.0.0.gem', makeGem({ metadata: aliased }))).version).to.equal('1.0.0');
  });

  it('rejects damaged and mismatched gems with precise messages', async () => {
    const good = makeGem({ name: 'demo', version: '1.0.0' });
    const at = 'demo-1.0.0.gem';
    await expectInvalid(handler.validate('demo-1.0.0.tar', good), 'a gem file name must end in .gem: demo-1.0.0.tar');
    await expectInvalid(handler.validate(at, gzip(good)), 'the .gem is gzip-compressed; a plain tar archive was expected');
    await expectInvalid(handler.validate(at, bytes('x'.repeat(1500))), /^the \.gem is not a valid tar archive: /);
    await expectInvalid(handler.validate(at, good.subarray(0, 700)), /^the \.gem is truncated: /);
    await expectInvalid(handler.validate(at, makeTar([{ name: 'data.tar.gz', data: 'x' }])), 'the .gem has no metadata.gz member');
    await expectInvalid(handler.validate(at, makeTar([{ name: 'metadata.gz', data: gzip(gemSpecYaml('demo', '1.0.0')) }])), 'the .gem has no data.tar.gz member');
    await expectInvalid(handler.validate(at, makeGem({ metadataGz: bytes('plain yaml') })), "the .gem's metadata.gz is not gzip data");
    const bomb = gzip(Buffer.alloc(5 * 1024 * 1024, 0x20));
    await expectInvalid(handler.validate(at, makeGem({ metadataGz: bomb })), "the .gem's metadata.gz decompresses to more than 4 MiB");
    await expectInvalid(handler.validate(at, makeGem({ metadata: 'name: [demo\nversion: 1' })), /^the gem's metadata is not valid YAML: /);
    await expectInvalid(handler.validate(at, makeGem({ metadata: 'name: demo\nversion: 1.0.0\n' })), "the gem's metadata is not a !ruby/object:Gem::Specification (found an untagged document)");
    await expectInvalid(handler.validate(at, makeGem({ metadata: gemSpecYaml('demo', '1.0.0').replace('name: demo\n', '') })), "the gem's specification has no name");
    await expectInvalid(
      handler.validate(at, makeGem({ metadata: gemSpecYaml('demo', '1.0.0').replace('version: !ruby/object:Gem::Version\n  version: 1.0.0\n', '') })),
      "the gem's specification has no version",
    );
    await expectInvalid(handler.validate(at, makeGem({ metadata: gemSpecYaml('demo', 'one') })), "the gem's version is not a valid Gem::Version: one");
    await expectInvalid(
      handler.validate('demo-1.0.1.gem', good),
      'the file name demo-1.0.1.gem does not match the gem specification (name demo, version 1.0.0, platform ruby; expected demo-1.0.0.gem)',
    );
    await expectInvalid(
      handler.validate('other-1.0.0.gem', good),
      'the file name other-1.0.0.gem does not match the gem specification (name demo, version 1.0.0, platform ruby; expected demo-1.0.0.gem)',
    );
  });

  it('orders versions as Gem::Version does', () => {
    expect(['1.10.0', '1.2.0', '1.2.0.rc1', '1.2.0.beta', '1.9'].sort(compareGemVersions)).to.deep.equal(['1.2.0.beta', '1.2.0.rc1', '1.2.0', '1.9', '1.10.0']);
  });

  it('generates the compact index: names, versions, info/<name>', async () => {
    const artifacts = [];
    for (const version of ['1.10.0', '1.2.0', '1.2.0.rc1']) {
      const metadata = await handler.parseMetadata(`gems/demo-${version}.gem`, makeGem({ name: 'demo', version }));
      artifacts.push({ ...metadata, checksumSha256: version === '1.2.0' ? 'cd'.repeat(32) : null });
    }
    artifacts.push(await handler.parseMetadata('gems/a-gem-0.1.0.gem', makeGem({ name: 'a-gem', version: '0.1.0' })));
    const index = await handler.generateIndex(artifacts);
    expect(index.map((file) => file.path)).to.deep.equal(['names', 'versions', 'info/a-gem', 'info/demo']);
    expect(text(index[0]!.content)).to.equal('---\na-gem\ndemo\n');
    const info = text(index[3]!.content);
    expect(info).to.equal(`---\n1.2.0.rc1 |\n1.2.0 |checksum:${'cd'.repeat(32)}\n1.10.0 |\n`);
    const [header, body] = text(index[1]!.content).split('---\n');
    expect(header).to.match(/^created_at: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$/);
    expect(body!.split('\n')).to.deep.equal([
      `a-gem 0.1.0 ${createHash('md5').update(text(index[2]!.content)).digest('hex')}`,
      `demo 1.2.0.rc1,1.2.0,1.10.0 ${createHash('md5').update(info).digest('hex')}`,
      '',
    ]);
  });
});
