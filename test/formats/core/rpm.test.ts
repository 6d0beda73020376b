import { expect } from 'chai';
import { RpmFormatHandler } from '../../../supervisor/formats/core/rpm.js';
import { bytes, expectInvalid, makeRpm } from './packages.js';

describe('core format rpm', () => {
  const handler = new RpmFormatHandler();
  const tags = { name: 'hello', version: '2.10', release: '1.el9', arch: 'x86_64' };

  it('declares itself a core handler without an index', async () => {
    expect(handler.formatKey).to.equal('rpm');
    expect(handler.capabilities).to.deep.equal({ parse_metadata: true, validate_artifact: true, generate_index: false, handle_request: false });
    expect(await handler.generateIndex()).to.equal(null);
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
