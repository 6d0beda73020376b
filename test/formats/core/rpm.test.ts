import { withBytes } from '../../support/bytes-handler.js';
import { expect } from 'chai';
import { gunzipSync } from 'node:zlib';
import { XMLParser } from 'fast-xml-parser';
import { RpmFormatHandler } from '../../../supervisor/formats/core/rpm.js';
import { bytes, expectInvalid, makeRpm, sha256, text } from './packages.js';

describe('core format rpm', () => {
  const handler = withBytes(new RpmFormatHandler());
  const tags = { name: 'hello', version: '2.10', release: '1.el9', arch: 'x86_64' };

  it('declares itself a core handler with an index', () => {
    expect(handler.formatKey).to.equal('rpm');
    expect(handler.capabilities).to.deep.equal({ parse_metadata: true, validate_artifact: true, generate_index: true, handle_request: false });
  });

  it('generates repodata: repomd.xml pointing at primary.xml.gz with every binary package', async () => {
    const stored = async (file: string, rpm: Buffer) => ({ ...(await handler.parseMetadata(file, rpm)), checksumSha256: sha256(rpm) });
    const hello = makeRpm(tags);
    const cpp = makeRpm({ name: 'libstdc++', version: '11.4.1', release: '3.el9', arch: 'aarch64', epoch: 1 });
    const artifacts = [
      await stored('el9/hello-2.10-1.el9.x86_64.rpm', hello),
      await stored('libstdc++-11.4.1-3.el9.aarch64.rpm', cpp),
      await stored('src/hello-2.10-1.el9.src.rpm', makeRpm(tags, { source: true })),
    ];
    const files = await handler.generateIndex(artifacts);
    expect(files.map((file) => file.path)).to.deep.equal(['repodata/repomd.xml', 'repodata/primary.xml.gz']);
    const [repomdFile, primaryFile] = files;

    const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', parseTagValue: false, isArray: (_name, jpath) => jpath === 'metadata.package' });
    const repomd = parser.parse(text(repomdFile.content)).repomd;
    expect(repomd.xmlns).to.equal('http://linux.duke.edu/metadata/repo');
    expect(repomd.data).to.include({ type: 'primary' });
    expect(repomd.data.location.href).to.equal('repodata/primary.xml.gz');
    expect(repomd.data.checksum['#text']).to.equal(sha256(primaryFile.content));
    expect(Number(repomd.data.size)).to.equal(primaryFile.content.byteLength);
    const primaryXml = gunzipSync(primaryFile.content);
    expect(repomd.data['open-checksum']['#text']).to.equal(sha256(primaryXml));
    expect(Number(repomd.data['open-size'])).to.equal(primaryXml.byteLength);

    const primary = parser.parse(primaryXml.toString('utf8')).metadata;
    expect(primary.packages).to.equal('2');
    const [first, second] = primary.package;
    expect(first).to.deep.include({ type: 'rpm', name: 'hello', arch: 'x86_64', version: { epoch: '0', ver: '2.10', rel: '1.el9' } });
    expect(first.checksum).to.deep.equal({ type: 'sha256', pkgid: 'YES', '#text': sha256(hello) });
    expect(first.size.package).to.equal(String(hello.byteLength));
    expect(first.location.href).to.equal('el9/hello-2.10-1.el9.x86_64.rpm');
    expect(second).to.deep.include({ name: 'libstdc++', arch: 'aarch64', version: { epoch: '1', ver: '11.4.1', rel: '3.el9' } });
    expect(second.format['rpm:provides']['rpm:entry']).to.include({ name: 'libstdc++', flags: 'EQ', epoch: '1' });

    // The same artifacts give the same bytes; another set, another revision.
    expect(Buffer.from((await handler.generateIndex(artifacts))[1].content).equals(primaryFile.content)).to.equal(true);
    const fewer = await handler.generateIndex(artifacts.slice(0, 1));
    expect(parser.parse(text(fewer[0].content)).repomd.revision).to.not.equal(repomd.revision);
  });

  it('reads name, version, release and arch from the header', async () => {
    const rpm = makeRpm(tags);
    expect(await handler.parseMetadata('el9/hello-2.10-1.el9.x86_64.rpm', rpm)).to.deep.equal({
      path: 'el9/hello-2.10-1.el9.x86_64.rpm',
      version: '2.10-1.el9',
      contentType: 'application/x-rpm',
      sizeBytes: rpm.byteLength,
      checksumSha256: null,
    });
    expect((await handler.parseMetadata('hello-2.10-1.el9.x86_64.rpm', makeRpm({ ...tags, epoch: 2 }))).version).to.equal('2:2.10-1.el9');
    await handler.validate('hello-2.10-1.el9.src.rpm', makeRpm(tags, { source: true }));
  });

  it('rejects damaged and mismatched packages with precise messages', async () => {
    const good = makeRpm(tags);
    const at = 'hello-2.10-1.el9.x86_64.rpm';
    await expectInvalid(handler.validate('hello.deb', good), 'an RPM file name must end in .rpm: hello.deb');
    await expectInvalid(handler.validate(at, bytes('not an rpm at all')), 'not an RPM: the lead magic ed ab ee db is missing');
    await expectInvalid(handler.validate(at, good.subarray(0, 50)), 'the RPM is truncated: the lead is shorter than 96 bytes');
    await expectInvalid(handler.validate(at, good.subarray(0, 96)), 'the RPM is truncated: the signature header is missing');
    await expectInvalid(handler.validate(at, good.subarray(0, 130)), 'the RPM is truncated: the signature header needs 97 bytes, only 34 remain');
    const broken = Buffer.from(good);
    broken.writeUInt32BE(0x12345678, 96 + 104);
    await expectInvalid(handler.validate(at, broken), "the RPM's main header has a bad magic number at byte 200");
    await expectInvalid(handler.validate(at, makeRpm(tags, { omit: [1002] })), 'the RPM header has no RELEASE tag (1002)');
    await expectInvalid(handler.validate(at, makeRpm(tags, { omit: [1022] })), 'the RPM header has no ARCH tag (1022)');
    await expectInvalid(
      handler.validate('hello-2.11-1.el9.x86_64.rpm', good),
      'the file name hello-2.11-1.el9.x86_64.rpm does not match the RPM header (name hello, version 2.10, release 1.el9, arch x86_64; expected hello-2.10-1.el9.x86_64.rpm)',
    );
  });
});
