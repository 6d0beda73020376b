import { withBytes } from '../../support/bytes-handler.js';
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DebianFormatHandler, compareDebianVersions, parseControl } from '../../../supervisor/formats/core/debian.js';
import { bytes, debControl, expectInvalid, gzip, makeAr, makeDeb, makeTar, text } from './packages.js';

function hasTool(tool: string): boolean {
  try {
    execFileSync('which', [tool], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('core format debian', () => {
  const handler = withBytes(new DebianFormatHandler());
  const fields = { Package: 'hello', Version: '2.10-2', Architecture: 'amd64', Maintainer: 'T <t@example.org>', Description: 'greets\n the world\n .\n twice' };

  it('declares itself a core handler with an index', () => {
    expect(handler.formatKey).to.equal('debian');
    expect(handler.capabilities).to.deep.equal({ parse_metadata: true, validate_artifact: true, generate_index: true, handle_request: false });
  });

  it('reads Package, Version and Architecture from the control file', async () => {
    const deb = makeDeb({ control: debControl(fields) });
    expect(await handler.parseMetadata('pool/main/h/hello/hello_2.10-2_amd64.deb', deb)).to.deep.equal({
      path: 'pool/main/h/hello/hello_2.10-2_amd64.deb',
      version: '2.10-2',
      contentType: 'application/vnd.debian.binary-package',
      sizeBytes: deb.byteLength,
      checksumSha256: null,
    });
    const epoch = makeDeb({ control: debControl({ ...fields, Version: '1:2.10-2' }) });
    expect((await handler.parseMetadata('hello_2.10-2_amd64.deb', epoch)).version).to.equal('1:2.10-2');
    const plainTar = makeDeb({ controlMember: 'control.tar', controlData: makeTar([{ name: 'control', data: debControl(fields) }]) });
    await handler.validate('hello_2.10-2_amd64.deb', plainTar);
    const control = parseControl(debControl(fields));
    expect(control.fields.get('description')).to.equal('greets\n the world\n .\n twice');
  });

  it('reads a .deb built by dpkg-deb', async function () {
    if (!hasTool('dpkg-deb')) this.skip();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-deb-'));
    try {
      await fs.mkdir(path.join(dir, 'pkg/DEBIAN'), { recursive: true });
      await fs.mkdir(path.join(dir, 'pkg/usr/bin'), { recursive: true });
      // dpkg-deb wants its control folder 0755..0775, whatever this process's umask (an
      // in-process supervisor of another test sets 077).
      await fs.chmod(path.join(dir, 'pkg'), 0o755);
      await fs.chmod(path.join(dir, 'pkg/DEBIAN'), 0o755);
      await fs.writeFile(path.join(dir, 'pkg/usr/bin/tool'), '#!/bin/sh\n');
      await fs.writeFile(path.join(dir, 'pkg/DEBIAN/control'), debControl({ ...fields, Package: 'tool', Version: '0.3.1-1', Architecture: 'all' }));
      execFileSync('dpkg-deb', ['-Zgzip', '--build', '--root-owner-group', path.join(dir, 'pkg'), path.join(dir, 'tool_0.3.1-1_all.deb')], { stdio: 'ignore' });
      const deb = await fs.readFile(path.join(dir, 'tool_0.3.1-1_all.deb'));
      expect((await handler.parseMetadata('tool_0.3.1-1_all.deb', deb)).version).to.equal('0.3.1-1');
      execFileSync('dpkg-deb', ['-Zxz', '--build', '--root-owner-group', path.join(dir, 'pkg'), path.join(dir, 'xz.deb')], { stdio: 'ignore' });
      await expectInvalid(
        handler.validate('tool_0.3.1-1_all.deb', await fs.readFile(path.join(dir, 'xz.deb'))),
        "the .deb's control archive is control.tar.xz (xz-compressed), which is not supported: only control.tar.gz and control.tar are read",
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects damaged and mismatched packages with precise messages', async () => {
    const good = makeDeb({ control: debControl(fields) });
    const at = 'hello_2.10-2_amd64.deb';
    await expectInvalid(handler.validate('hello.deb', good), 'a Debian package file name must be <package>_<version>_<architecture>.deb: hello.deb');
    await expectInvalid(handler.validate(at, bytes('not an archive')), 'the .deb is not an ar archive (missing the "!<arch>" signature)');
    await expectInvalid(handler.validate(at, good.subarray(0, 200)), /^the \.deb is truncated: ar member control\.tar\.gz needs \d+ bytes, only \d+ remain$/);
    await expectInvalid(handler.validate(at, makeAr([{ name: 'control.tar.gz', data: bytes('x') }])), "the .deb's first member must be debian-binary, found control.tar.gz");
    await expectInvalid(handler.validate(at, makeAr([{ name: 'debian-binary', data: bytes('3.0\n') }])), `the .deb's debian-binary says format "3.0", expected 2.x`);
    await expectInvalid(handler.validate(at, makeAr([{ name: 'debian-binary', data: bytes('2.0\n') }])), 'the .deb has no control.tar member');
    await expectInvalid(
      handler.validate(at, makeAr([{ name: 'debian-binary', data: bytes('2.0\n') }, { name: 'control.tar.gz', data: gzip(makeTar([{ name: 'control', data: debControl(fields) }])) }])),
      'the .deb has no data.tar member',
    );
    await expectInvalid(
      handler.validate(at, makeDeb({ controlMember: 'control.tar.zst', controlData: bytes('zstd bytes') })),
      "the .deb's control archive is control.tar.zst (zstd-compressed), which is not supported: only control.tar.gz and control.tar are read",
    );
    await expectInvalid(handler.validate(at, makeDeb({ controlData: bytes('not gzip') })), 'the .deb member control.tar.gz is not gzip data');
    const gz = gzip(makeTar([{ name: './control', data: debControl(fields) }]));
    await expectInvalid(handler.validate(at, makeDeb({ controlData: gz.subarray(0, gz.length - 12) })), 'the .deb member control.tar.gz is truncated (unexpected end of gzip data)');
    await expectInvalid(handler.validate(at, makeDeb({ controlData: gzip('x'.repeat(2000)) })), /^the \.deb member control\.tar\.gz is not a valid tar archive: /);
    await expectInvalid(handler.validate(at, makeDeb({ controlData: gzip(makeTar([{ name: './md5sums', data: '' }])) })), 'the .deb member control.tar.gz has no control file');
    const bomb = gzip(Buffer.alloc(17 * 1024 * 1024));
    await expectInvalid(handler.validate(at, makeDeb({ controlData: bomb })), 'the .deb member control.tar.gz decompresses to more than 16 MiB');
    const without = (name: string) => debControl(Object.fromEntries(Object.entries(fields).filter(([key]) => key !== name)));
    await expectInvalid(handler.validate(at, makeDeb({ control: without('Version') })), 'the control file has no Version field');
    await expectInvalid(handler.validate(at, makeDeb({ control: without('Package') })), 'the control file has no Package field');
    await expectInvalid(handler.validate(at, makeDeb({ control: without('Architecture') })), 'the control file has no Architecture field');
    await expectInvalid(handler.validate(at, makeDeb({ control: 'Package: hello\nthis is not a field\n' })), 'the control file line 2 is not a "Field: value" line: this is not a field');
    await expectInvalid(handler.validate(at, makeDeb({ control: debControl({ ...fields, Version: 'two' }) })), 'the control file Version is not a valid Debian version: two');
    await expectInvalid(handler.validate(at, makeDeb({ control: debControl({ ...fields, Package: 'Hello' }) })), 'the control file Package is not a valid Debian package name: Hello');
    await expectInvalid(
      handler.validate('hello_2.11-1_amd64.deb', good),
      'the file name hello_2.11-1_amd64.deb does not match the control file (Package hello, Version 2.10-2, Architecture amd64; expected hello_2.10-2_amd64.deb)',
    );
    await expectInvalid(
      handler.validate('hello_2.10-2_arm64.deb', good),
      'the file name hello_2.10-2_arm64.deb does not match the control file (Package hello, Version 2.10-2, Architecture amd64; expected hello_2.10-2_amd64.deb)',
    );
  });

  it('orders versions as dpkg does', () => {
    const sorted = ['1.0~rc1-1', '1:0.9-1', '1.0-1', '1.0-1ubuntu1', '1.0.1-1', '1.10-1', '1.2-1', '1.0+dfsg-1'].sort(compareDebianVersions);
    expect(sorted).to.deep.equal(['1.0~rc1-1', '1.0-1', '1.0-1ubuntu1', '1.0+dfsg-1', '1.0.1-1', '1.2-1', '1.10-1', '1:0.9-1']);
  });

  it('generates a Packages file with Filename, Size and SHA256', async () => {
    const artifacts = [];
    for (const version of ['2.10-2', '2.9-1', '2.10~rc1-1']) {
      const deb = makeDeb({ control: debControl({ ...fields, Version: version }) });
      artifacts.push({ ...(await handler.parseMetadata(`pool/main/h/hello/hello_${version}_amd64.deb`, deb)), checksumSha256: 'ab'.repeat(32) });
    }
    const zlib = makeDeb({ control: debControl({ ...fields, Package: 'alib', Version: '1.3', Architecture: 'all' }) });
    artifacts.push(await handler.parseMetadata('pool/main/a/alib/alib_1.3_all.deb', zlib));
    const index = await handler.generateIndex(artifacts);
    expect(index.map((file) => file.path)).to.deep.equal(['Packages', 'Packages.gz']);
    const packages = text(index[0]!.content);
    expect(text(gunzipSync(index[1]!.content))).to.equal(packages);
    const stanzas = packages.trim().split('\n\n').map((stanza) => parseControl(stanza).fields);
    expect(stanzas.map((stanza) => `${stanza.get('package')} ${stanza.get('version')}`)).to.deep.equal(['alib 1.3', 'hello 2.9-1', 'hello 2.10~rc1-1', 'hello 2.10-2']);
    expect(Object.fromEntries(stanzas[3]!)).to.deep.equal({
      package: 'hello',
      version: '2.10-2',
      architecture: 'amd64',
      filename: 'pool/main/h/hello/hello_2.10-2_amd64.deb',
      size: String(artifacts[0]!.sizeBytes),
      sha256: 'ab'.repeat(32),
    });
    expect(stanzas[0]!.has('sha256')).to.equal(false);
    expect(stanzas[0]!.get('filename')).to.equal('pool/main/a/alib/alib_1.3_all.deb');
  });
});
