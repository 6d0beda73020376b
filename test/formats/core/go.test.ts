import { withBytes } from '../../support/bytes-handler.js';
import { expect } from 'chai';
import { makeZip } from '../../support/zips.js';
import { GoFormatHandler, escapeGoPath, unescapeGoPath } from '../../../supervisor/formats/core/go.js';
import { bytes, expectInvalid, text } from './packages.js';

const info = (version: string) => bytes(JSON.stringify({ Version: version, Time: '2024-03-01T10:00:00Z' }));

describe('core format go', () => {
  const handler = withBytes(new GoFormatHandler());

  it('declares itself a core handler with an index', () => {
    expect(handler.formatKey).to.equal('go');
    expect(handler.capabilities).to.deep.equal({ parse_metadata: true, validate_artifact: true, generate_index: true, handle_request: false });
  });

  it('escapes and unescapes module paths as Go does', () => {
    expect(escapeGoPath('github.com/Azure/azure-sdk')).to.equal('github.com/!azure/azure-sdk');
    expect(unescapeGoPath('github.com/!azure/!b!c', 'module path')).to.equal('github.com/Azure/BC');
  });

  it('accepts .info, .mod and .zip with the right metadata', async () => {
    const mod = bytes('// the module\n\nmodule github.com/Azure/go-demo\n\ngo 1.21\n');
    const zip = makeZip([
      { name: 'github.com/Azure/go-demo@v1.2.3/go.mod', data: 'module github.com/Azure/go-demo\n' },
      { name: 'github.com/Azure/go-demo@v1.2.3/demo.go', data: 'package demo\n' },
    ]);
    const base = 'github.com/!azure/go-demo/@v/v1.2.3';
    expect(await handler.parseMetadata(`${base}.info`, info('v1.2.3'))).to.deep.equal({
      path: `${base}.info`,
      version: 'v1.2.3',
      contentType: 'application/json',
      sizeBytes: info('v1.2.3').byteLength,
      checksumSha256: null,
    });
    expect(await handler.parseMetadata(`${base}.mod`, mod)).to.include({ version: 'v1.2.3', contentType: 'text/plain; charset=utf-8', sizeBytes: mod.byteLength });
    expect(await handler.parseMetadata(`${base}.zip`, zip)).to.include({ version: 'v1.2.3', contentType: 'application/zip' });
    await handler.validate('example.com/lib/v2/@v/v2.0.0-rc.1.mod', bytes('module "example.com/lib/v2"\n'));
    await handler.validate('example.com/old/@v/v3.1.0+incompatible.info', info('v3.1.0+incompatible'));
    await handler.validate('gopkg.in/yaml.v3/@v/v3.0.1.mod', bytes('module gopkg.in/yaml.v3\n'));
  });

  it('rejects bad paths and versions with precise messages', async () => {
    const mod = bytes('module example.com/m\n');
    await expectInvalid(handler.validate('example.com/m/v1.0.0.mod', mod), 'a Go module file path must be <module>/@v/<version>.(info|mod|zip): example.com/m/v1.0.0.mod');
    await expectInvalid(handler.validate('example.com/m/@v/v1.0.0.txt', mod), 'a Go module file path must be <module>/@v/<version>.(info|mod|zip): example.com/m/@v/v1.0.0.txt');
    await expectInvalid(
      handler.validate('github.com/Azure/m/@v/v1.0.0.mod', mod),
      'invalid escaped module path github.com/Azure/m: uppercase letters must be escaped as "!" and the lowercase letter',
    );
    await expectInvalid(handler.validate('github.com/!1/m/@v/v1.0.0.mod', mod), 'invalid escaped module path github.com/!1/m: "!" must be followed by a lowercase letter');
    await expectInvalid(handler.validate('localhost/m/@v/v1.0.0.mod', mod), 'malformed module path localhost/m: missing dot in first path element');
    await expectInvalid(handler.validate('example.com/a b/@v/v1.0.0.mod', mod), 'malformed module path example.com/a b: invalid character in path element a b');
    const semverMessage = (version: string) => `invalid version ${version}: a Go module version is a canonical semantic version with a leading v (v1.2.3, v1.2.3-pre, v2.0.0+incompatible)`;
    await expectInvalid(handler.validate('example.com/m/@v/1.0.0.mod', mod), semverMessage('1.0.0'));
    await expectInvalid(handler.validate('example.com/m/@v/v1.0.mod', mod), semverMessage('v1.0'));
    await expectInvalid(handler.validate('example.com/m/@v/v01.0.0.mod', mod), semverMessage('v01.0.0'));
    await expectInvalid(handler.validate('example.com/m/@v/v1.0.0+build.mod', mod), semverMessage('v1.0.0+build'));
    await expectInvalid(handler.validate('example.com/m/@v/v2.0.0.mod', mod), 'version v2.0.0 of example.com/m needs the module path suffix /v2 (or +incompatible)');
    await expectInvalid(handler.validate('example.com/m/v3/@v/v2.0.0.mod', bytes('module example.com/m/v3\n')), 'version v2.0.0 does not match the major version suffix of example.com/m/v3 (want v3)');
    await expectInvalid(handler.validate('example.com/m/@v/v1.0.0+incompatible.mod', mod), 'invalid version v1.0.0+incompatible: +incompatible is only for major versions 2 and above');
  });

  it('rejects damaged .info, .mod and .zip files with precise messages', async () => {
    const base = 'example.com/m/@v/v1.0.0';
    await expectInvalid(handler.validate(`${base}.info`, bytes('{"Version": "v1.0.0"')), /^the \.info file is not valid JSON: /);
    await expectInvalid(handler.validate(`${base}.info`, bytes('[1]')), 'the .info file must be a JSON object {"Version", "Time"}');
    await expectInvalid(handler.validate(`${base}.info`, bytes('{"Time": "2024-03-01T10:00:00Z"}')), 'the .info file has no "Version" string');
    await expectInvalid(handler.validate(`${base}.info`, info('v1.0.1')), 'the .info Version v1.0.1 does not match the version in the path, v1.0.0');
    await expectInvalid(handler.validate(`${base}.info`, bytes('{"Version": "v1.0.0"}')), 'the .info file has no "Time" string');
    await expectInvalid(handler.validate(`${base}.info`, bytes('{"Version": "v1.0.0", "Time": "yesterday"}')), 'the .info Time is not an RFC 3339 time: yesterday');
    await expectInvalid(handler.validate(`${base}.mod`, bytes('go 1.21\nmodule example.com/m\n')), 'the .mod file must start with a module directive, found: go 1.21');
    await expectInvalid(handler.validate(`${base}.mod`, bytes('// only a comment\n')), 'the .mod file has no module directive');
    await expectInvalid(handler.validate(`${base}.mod`, bytes('module example.com/other\n')), 'the .mod file declares module example.com/other, but the path is for example.com/m');
    await expectInvalid(handler.validate(`${base}.mod`, new Uint8Array([0x6d, 0xff, 0xfe])), 'the .mod file is not valid UTF-8 text');
    await expectInvalid(handler.validate(`${base}.zip`, bytes('PK not really')), /^the module \.zip is not a valid zip archive: /);
    await expectInvalid(
      handler.validate(`${base}.zip`, makeZip([{ name: 'example.com/m@v1.0.1/a.go', data: 'package m' }])),
      'the module .zip entry example.com/m@v1.0.1/a.go is not under example.com/m@v1.0.0/',
    );
    await expectInvalid(
      handler.validate(`${base}.zip`, makeZip([{ name: 'example.com/m@v1.0.0/../../evil', data: 'x' }])),
      'the module .zip is not a valid zip archive: invalid relative path: example.com/m@v1.0.0/../../evil',
    );
    await expectInvalid(
      handler.validate(`${base}.zip`, makeZip([{ name: 'example.com/m@v1.0.0/go.mod', data: 'module example.com/n\n' }])),
      "the module .zip's go.mod declares module example.com/n, but the path is for example.com/m",
    );
  });

  it('generates @v/list per module in semver order', async () => {
    const versions = ['v1.10.0', 'v1.2.0', 'v1.2.0-rc.1', 'v1.9.3'];
    const artifacts = [];
    for (const version of versions) {
      artifacts.push(await handler.parseMetadata(`github.com/!azure/go-demo/@v/${version}.info`, info(version)));
      artifacts.push(await handler.parseMetadata(`github.com/!azure/go-demo/@v/${version}.mod`, bytes('module github.com/Azure/go-demo\n')));
    }
    artifacts.push(await handler.parseMetadata('example.com/m/@v/v0.1.0.mod', bytes('module example.com/m\n')));
    const index = await handler.generateIndex(artifacts);
    expect(index.map((file) => file.path)).to.deep.equal(['example.com/m/@v/list', 'github.com/!azure/go-demo/@v/list']);
    expect(text(index[1]!.content).split('\n')).to.deep.equal(['v1.2.0-rc.1', 'v1.2.0', 'v1.9.3', 'v1.10.0', '']);
    expect(text(index[0]!.content)).to.equal('v0.1.0\n');
  });
});
