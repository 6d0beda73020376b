import { withBytes } from '../../support/bytes-handler.js';
import { expect } from 'chai';
import { makeZip } from '../../support/zips.js';
import { NugetFormatHandler, normalizeVersion } from '../../../supervisor/formats/core/nuget.js';
import { bytes, expectInvalid, makeNupkg, nuspec, text } from './packages.js';

describe('core format nuget', () => {
  const handler = withBytes(new NugetFormatHandler());

  it('declares itself a core handler with an index', () => {
    expect(handler.formatKey).to.equal('nuget');
    expect(handler.handlerType).to.equal('core');
    expect(handler.capabilities).to.deep.equal({ parse_metadata: true, validate_artifact: true, generate_index: true, handle_request: false });
  });

  it('reads id and version from the .nuspec', async () => {
    const data = makeNupkg('Newtonsoft.Json', '13.0.3');
    await handler.validate('packages/newtonsoft.json.13.0.3.nupkg', data);
    const metadata = await handler.parseMetadata('packages/newtonsoft.json.13.0.3.nupkg', data);
    expect(metadata).to.deep.equal({
      path: 'packages/newtonsoft.json.13.0.3.nupkg',
      version: '13.0.3',
      contentType: 'application/octet-stream',
      sizeBytes: data.byteLength,
      checksumSha256: null,
    });
  });

  it('accepts the normalized version in the file name', async () => {
    expect(normalizeVersion('1.0')).to.equal('1.0.0');
    expect(normalizeVersion('01.2.3.0+build')).to.equal('1.2.3');
    expect(normalizeVersion('1.2.3.4-Beta')).to.equal('1.2.3.4-Beta');
    const metadata = await handler.parseMetadata('Demo.1.0.0.nupkg', makeNupkg('Demo', '1.0'));
    expect(metadata.version).to.equal('1.0');
  });

  it('rejects damaged and mismatched packages with precise messages', async () => {
    await expectInvalid(handler.validate('demo.1.0.0.nupkg', bytes('not a zip at all')), /^the \.nupkg is not a valid zip archive: /);
    const good = makeNupkg('Demo', '1.0.0');
    await expectInvalid(handler.validate('demo.1.0.0.nupkg', good.subarray(0, good.length - 30)), /^the \.nupkg is not a valid zip archive: /);
    await expectInvalid(handler.validate('demo.1.0.0.zip', good), 'a NuGet package file name must end in .nupkg: demo.1.0.0.zip');
    await expectInvalid(handler.validate('demo.1.0.0.nupkg', makeZip([{ name: 'lib/a.dll', data: 'x' }])), 'the .nupkg has no .nuspec file at its root');
    await expectInvalid(
      handler.validate('demo.1.0.0.nupkg', makeZip([{ name: 'a.nuspec', data: nuspec('Demo', '1.0.0') }, { name: 'b.nuspec', data: nuspec('Demo', '1.0.0') }])),
      'the .nupkg has more than one .nuspec file at its root: a.nuspec, b.nuspec',
    );
    await expectInvalid(
      handler.validate('demo.1.0.0.nupkg', makeNupkg('Demo', '1.0.0', { nuspec: '<package><metadata><id>Demo</id></metadata>' })),
      "the .nuspec is not well-formed XML: Unclosed tag 'package'. (line 1, column 1)",
    );
    await expectInvalid(handler.validate('demo.1.0.0.nupkg', makeNupkg('Demo', '1.0.0', { nuspec: '<package><metadata><id>Demo</id></metadata></package>' })), 'the .nuspec metadata has no <version>');
    await expectInvalid(handler.validate('demo.1.0.0.nupkg', makeNupkg('Demo', '1.0.0', { nuspec: '<package><files/></package>' })), 'the .nuspec has no <metadata> element');
    await expectInvalid(handler.validate('demo.1.0.0.nupkg', makeNupkg('Demo', '1.0.0', { nuspec: '<nuspec/>' })), 'the .nuspec has no <package> root element');
    await expectInvalid(handler.validate('demo.one.nupkg', makeNupkg('Demo', 'one')), 'the .nuspec version is not a valid NuGet version: one');
    await expectInvalid(handler.validate('bad id.1.0.0.nupkg', makeNupkg('bad id', '1.0.0')), 'the .nuspec id is not a valid NuGet package id: bad id');
    await expectInvalid(
      handler.validate('other.1.0.0.nupkg', makeNupkg('Demo', '1.0.0')),
      'the file name other.1.0.0.nupkg does not match the .nuspec id Demo and version 1.0.0 (expected Demo.1.0.0.nupkg)',
    );
    await expectInvalid(
      handler.validate('demo.1.0.1.nupkg', makeNupkg('Demo', '1.0.0')),
      'the file name demo.1.0.1.nupkg does not match the .nuspec id Demo and version 1.0.0 (expected Demo.1.0.0.nupkg)',
    );
  });

  it('refuses a .nuspec past the 1 MiB cap without inflating it', async () => {
    const huge = makeZip([{ name: 'Demo.nuspec', data: '<package>' + ' '.repeat(2 * 1024 * 1024) + '</package>' }]);
    await expectInvalid(handler.validate('demo.1.0.0.nupkg', huge), 'the .nupkg entry Demo.nuspec is 2097171 bytes, more than the 1 MiB allowed');
    const lying = makeZip([{ name: 'Demo.nuspec', data: '<package>' + ' '.repeat(2 * 1024 * 1024) + '</package>', declaredSize: 100 }]);
    await expectInvalid(handler.validate('demo.1.0.0.nupkg', lying), /^the \.nupkg entry Demo\.nuspec (is damaged|decompresses to more than)/);
  });

  it('generates the flat-container version list per id, ordered by version', async () => {
    const artifacts = await Promise.all(
      [
        ['Demo', '1.10.0'],
        ['Demo', '1.2.0'],
        ['Demo', '1.2.0-beta.2'],
        ['Other.Lib', '2.0.0'],
      ].map(([id, version]) => handler.parseMetadata(`${id}.${version}.nupkg`, makeNupkg(id!, version!))),
    );
    const index = await handler.generateIndex(artifacts);
    expect(index.map((file) => file.path)).to.deep.equal(['demo/index.json', 'other.lib/index.json']);
    expect(JSON.parse(text(index[0]!.content))).to.deep.equal({ versions: ['1.2.0-beta.2', '1.2.0', '1.10.0'] });
    expect(JSON.parse(text(index[1]!.content))).to.deep.equal({ versions: ['2.0.0'] });
  });
});
