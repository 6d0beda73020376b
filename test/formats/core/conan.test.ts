import { withBytes } from '../../support/bytes-handler.js';
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { ConanFormatHandler } from '../../../supervisor/formats/core/conan.js';
import { coreFormatHandlers } from '../../../supervisor/formats/core/index.js';
import { expectInvalid, gzip, tarGz, text, truncateTar, withoutEndMarker } from './artifacts.js';
import { makeTar } from './packages.js';

const hash = (algorithm: 'md5' | 'sha1', data: string): string => createHash(algorithm).update(data).digest('hex');

const conanfile = 'from conan import ConanFile\n\nclass ZlibConan(ConanFile):\n    name = "zlib"\n    version = "1.3.1"\n    settings = "os", "arch", "compiler", "build_type"\n';
const conaninfo = '[settings]\narch=x86_64\nbuild_type=Release\ncompiler=gcc\ncompiler.version=13\nos=Linux\n[options]\nshared=False\n';
// As Conan makes them: the recipe revision is the md5 of the recipe manifest, the package_id the sha1 of conaninfo.txt.
const recipeManifest = `1709280000\nconandata.yml: ${hash('md5', 'sources: {}\n')}\nconanfile.py: ${hash('md5', conanfile)}\n`;
const packageManifest = `1709280100\nconaninfo.txt: ${hash('md5', conaninfo)}\ninclude/zlib.h: ${hash('md5', '/* zlib */\n')}\nlib/libz.a: ${hash('md5', '!<arch>\n')}\n`;
const rrev = hash('md5', recipeManifest);
const packageId = hash('sha1', conaninfo);
const prev = hash('md5', packageManifest);
const recipe = (file: string, reference = 'zlib/1.3.1/_/_') => `${reference}/${rrev}/export/${file}`;
const binary = (file: string, reference = 'zlib/1.3.1/_/_') => `${reference}/${rrev}/package/${packageId}/${prev}/${file}`;
const bytes = (value: string) => Buffer.from(value);
const meta = (path: string) => ({ path, version: '1.3.1', contentType: 'text/plain', sizeBytes: 1, checksumSha256: null });

describe('core format: conan', () => {
  const handler = withBytes(new ConanFormatHandler());

  it('declares itself a core handler with an index, registered under conan', () => {
    expect(handler.formatKey).to.equal('conan');
    expect(handler.capabilities).to.deep.equal({ parse_metadata: true, validate_artifact: true, generate_index: true, handle_request: false });
    expect(coreFormatHandlers().get('conan')).to.be.instanceOf(ConanFormatHandler);
  });

  it('accepts every recipe and package file with the reference version and content type', async () => {
    const exportTgz = await tarGz({ 'conandata.yml': 'sources: {}\n' });
    const sourcesTgz = await tarGz({ 'src/zlib.c': 'int main(void) { return 0; }\n' });
    const packageTgz = await tarGz({ 'include/zlib.h': '/* zlib */\n', 'lib/libz.a': '!<arch>\n' });
    expect(await handler.parseMetadata(recipe('conanfile.py'), bytes(conanfile))).to.deep.equal({
      path: recipe('conanfile.py'), version: '1.3.1', contentType: 'text/x-python', sizeBytes: conanfile.length, checksumSha256: null,
    });
    expect(await handler.parseMetadata(recipe('conanmanifest.txt'), bytes(recipeManifest))).to.include({ version: '1.3.1', contentType: 'text/plain' });
    expect(await handler.parseMetadata(recipe('conan_export.tgz'), exportTgz)).to.include({ version: '1.3.1', contentType: 'application/gzip', sizeBytes: exportTgz.byteLength });
    expect(await handler.parseMetadata(recipe('conan_sources.tgz'), sourcesTgz)).to.include({ version: '1.3.1', contentType: 'application/gzip' });
    expect(await handler.parseMetadata(binary('conaninfo.txt'), bytes(conaninfo))).to.include({ version: '1.3.1', contentType: 'text/plain' });
    expect(await handler.parseMetadata(binary('conanmanifest.txt'), bytes(packageManifest))).to.include({ version: '1.3.1', contentType: 'text/plain' });
    expect(await handler.parseMetadata(binary('conan_package.tgz'), packageTgz)).to.include({ version: '1.3.1', contentType: 'application/gzip' });
    // A user without a channel, a user and a channel, a leading slash, a scm (git commit) revision.
    await handler.validate(recipe('conanfile.py', 'openssl/3.2.1/acme/_'), bytes(conanfile));
    await handler.validate(`/${binary('conaninfo.txt', 'boost/1.84.0/acme/stable')}`, bytes(conaninfo));
    await handler.validate(`my_lib+x/cci.20240101/_/_/${hash('sha1', 'commit')}/export/conanfile.py`, bytes(conanfile));
    // A package id with no settings, options or requirements: Conan writes an empty conaninfo.txt.
    await handler.validate(binary('conaninfo.txt'), bytes(''));
    // Comments and blank lines are skipped, as Conan's ConfigParser does; CRLF line ends are read.
    await handler.validate(binary('conaninfo.txt'), bytes('# generated\r\n\r\n[requires]\r\nzlib/1.3.Z\r\n'));
  });

  it('rejects malformed paths with precise messages', async () => {
    const shape = (path: string) =>
      `a Conan file path must be <name>/<version>/<user>/<channel>/<rrev>/export/<file> or <name>/<version>/<user>/<channel>/<rrev>/package/<package_id>/<prev>/<file>: ${path}`;
    const file = bytes(conanfile);
    await expectInvalid(handler.validate('zlib/1.3.1/_/_/conanfile.py', file), shape('zlib/1.3.1/_/_/conanfile.py'));
    await expectInvalid(handler.validate(`zlib/1.3.1/_/_/${rrev}/recipe/conanfile.py`, file), shape(`zlib/1.3.1/_/_/${rrev}/recipe/conanfile.py`));
    await expectInvalid(handler.validate(`zlib/1.3.1/_/_/${rrev}/package/${packageId}/conaninfo.txt`, file), shape(`zlib/1.3.1/_/_/${rrev}/package/${packageId}/conaninfo.txt`));
    await expectInvalid(handler.validate(`zlib/1.3.1/_/${rrev}/export/conanfile.py`, file), shape(`zlib/1.3.1/_/${rrev}/export/conanfile.py`));
    await expectInvalid(handler.validate(`zlib//1.3.1/_/_/${rrev}/export/conanfile.py`, file), `the Conan path zlib//1.3.1/_/_/${rrev}/export/conanfile.py has an empty segment`);
    await expectInvalid(handler.validate(`${recipe('conanfile.py')}/`, file), `the Conan path ${recipe('conanfile.py')}/ has an empty segment`);
    await expectInvalid(handler.validate(`zlib/../_/_/${rrev}/export/conanfile.py`, file), `the Conan path zlib/../_/_/${rrev}/export/conanfile.py has a ".." segment`);
    await expectInvalid(handler.validate(`zlib/./_/_/${rrev}/export/conanfile.py`, file), `the Conan path zlib/./_/_/${rrev}/export/conanfile.py has a "." segment`);
    await expectInvalid(handler.validate(recipe('conaninfo.txt'), bytes(conaninfo)),
      'conaninfo.txt is not a recipe file: the export folder holds conanfile.py, conanmanifest.txt, conan_export.tgz, conan_sources.tgz');
    await expectInvalid(handler.validate(binary('conanfile.py'), file),
      'conanfile.py is not a package file: a package revision folder holds conaninfo.txt, conanmanifest.txt, conan_package.tgz');
    const partRule = '2 to 101 characters of lowercase letters, digits, _ + . -, not starting with + . or -';
    await expectInvalid(handler.validate(recipe('conanfile.py', 'Zlib/1.3.1/_/_'), file), `invalid Conan package name Zlib: ${partRule}`);
    await expectInvalid(handler.validate(recipe('conanfile.py', 'z/1.3.1/_/_'), file), `invalid Conan package name z: ${partRule}`);
    await expectInvalid(handler.validate(recipe('conanfile.py', '-zlib/1.3.1/_/_'), file), `invalid Conan package name -zlib: ${partRule}`);
    await expectInvalid(handler.validate(recipe('conanfile.py', `${'z'.repeat(102)}/1.3.1/_/_`), file), `invalid Conan package name ${'z'.repeat(102)}: ${partRule}`);
    await expectInvalid(handler.validate(recipe('conanfile.py', 'zlib/1.3.1/Acme/_'), file), `invalid Conan package user Acme: ${partRule}`);
    await expectInvalid(handler.validate(recipe('conanfile.py', 'zlib/1.3.1/acme/st@ble'), file), `invalid Conan package channel st@ble: ${partRule}`);
    await expectInvalid(handler.validate(recipe('conanfile.py', 'zlib/1.3.1/_/stable'), file), 'the Conan channel stable needs a user: the path has _ for the user');
    await expectInvalid(handler.validate('zlib/1.3.1/_/_/not-a-revision/export/conanfile.py', file),
      'invalid Conan recipe revision not-a-revision: a revision is 1 to 64 letters and digits (an md5 hash or a commit id)');
    await expectInvalid(handler.validate(`zlib/1.3.1/_/_/${rrev}/package/${packageId.toUpperCase()}/${prev}/conaninfo.txt`, bytes(conaninfo)),
      `invalid Conan package_id ${packageId.toUpperCase()}: a package_id is 40 lowercase hex digits (a sha1)`);
    await expectInvalid(handler.validate(`zlib/1.3.1/_/_/${rrev}/package/${packageId.slice(1)}/${prev}/conaninfo.txt`, bytes(conaninfo)),
      `invalid Conan package_id ${packageId.slice(1)}: a package_id is 40 lowercase hex digits (a sha1)`);
    await expectInvalid(handler.validate(`zlib/1.3.1/_/_/${rrev}/package/${packageId}/${'a'.repeat(65)}/conaninfo.txt`, bytes(conaninfo)),
      `invalid Conan package revision ${'a'.repeat(65)}: a revision is 1 to 64 letters and digits (an md5 hash or a commit id)`);
  });

  it('rejects damaged text files with precise messages', async () => {
    await expectInvalid(handler.validate(recipe('conanfile.py'), bytes(' \n\n')), 'conanfile.py is empty');
    await expectInvalid(handler.validate(recipe('conanfile.py'), new Uint8Array([0x66, 0xff, 0xfe])), 'conanfile.py is not valid UTF-8 text');
    await expectInvalid(handler.validate(recipe('conanmanifest.txt'), bytes(`conanfile.py: ${hash('md5', conanfile)}\n`)),
      `conanmanifest.txt must start with a timestamp line (seconds since the epoch), found: conanfile.py: ${hash('md5', conanfile)}`);
    await expectInvalid(handler.validate(recipe('conanmanifest.txt'), bytes('1709280000\nconanfile.py ab12\n')), 'conanmanifest.txt line 2 is not "<path>: <md5>": conanfile.py ab12');
    await expectInvalid(handler.validate(recipe('conanmanifest.txt'), bytes(`1709280000\n\nconanfile.py: ${hash('sha1', conanfile)}\n`)),
      `conanmanifest.txt line 3 is not "<path>: <md5>": conanfile.py: ${hash('sha1', conanfile)}`);
    await expectInvalid(handler.validate(recipe('conanmanifest.txt'), bytes(`${recipeManifest}conanfile.py: ${hash('md5', 'other')}\n`)),
      'conanmanifest.txt lists conanfile.py more than once');
    await expectInvalid(handler.validate(binary('conaninfo.txt'), bytes('arch=x86_64\n[settings]\n')), 'conaninfo.txt line 1 is outside any [section]: arch=x86_64');
    await expectInvalid(handler.validate(binary('conaninfo.txt'), bytes('[settings]\narch=x86_64\n[Options]\n')), 'conaninfo.txt line 3 is not a [section] header: [Options]');
    await expectInvalid(handler.validate(binary('conaninfo.txt'), bytes('[settings\narch=x86_64\n')), 'conaninfo.txt line 1 is not a [section] header: [settings');
  });

  it('rejects damaged, truncated or unsafe tarballs with precise messages', async () => {
    const good = await tarGz({ 'include/zlib.h': '/* zlib */\n', 'lib/libz.a': '!<arch>\n'.repeat(200) });
    const at = binary('conan_package.tgz');
    await expectInvalid(handler.validate(at, makeTar([{ name: 'include/zlib.h', data: 'x' }])),
      'conan_package.tgz is not gzip-compressed (it does not start with the gzip magic bytes 1f 8b)');
    const badChecksum = Buffer.from(good);
    badChecksum[badChecksum.length - 8] ^= 0xff;
    await expectInvalid(handler.validate(at, badChecksum), 'conan_package.tgz is not a valid gzip stream: incorrect data check');
    await expectInvalid(handler.validate(at, good.subarray(0, good.length - 20)), 'conan_package.tgz is not a valid gzip stream: unexpected end of file');
    await expectInvalid(handler.validate(at, truncateTar(good, 700)), /^conan_package\.tgz is not a valid tar archive: /);
    await expectInvalid(handler.validate(at, withoutEndMarker(good)), 'conan_package.tgz is truncated: the tar archive does not end with its end-of-archive marker');
    await expectInvalid(handler.validate(recipe('conan_sources.tgz'), gzip(makeTar([{ name: 'src/../../evil.sh', data: 'rm -rf ~' }]))),
      'conan_sources.tgz member src/../../evil.sh has an unsafe path');
    await expectInvalid(handler.validate(recipe('conan_export.tgz'), gzip(makeTar([{ name: '/etc/profile', data: 'x' }]))),
      'conan_export.tgz member /etc/profile has an unsafe path');
  });

  it('generates index.json: references, their recipe revisions, binaries and package revisions', async () => {
    const otherRrev = hash('md5', 'second recipe revision');
    const otherPrev = hash('md5', 'second package revision');
    const artifacts = [
      meta(recipe('conanfile.py')),
      meta(recipe('conanmanifest.txt')),
      meta(binary('conaninfo.txt')),
      meta(binary('conan_package.tgz')),
      meta(`zlib/1.3.1/_/_/${rrev}/package/${packageId}/${otherPrev}/conaninfo.txt`),
      meta(`zlib/1.3.1/_/_/${otherRrev}/export/conanfile.py`),
      meta(recipe('conanfile.py', 'openssl/3.2.1/acme/stable')),
      meta(binary('conaninfo.txt', 'openssl/3.2.1/acme/_')),
      meta('zlib/1.3.1/_/_/not-a-conan-file.txt'),
    ];
    const [file, ...rest] = await handler.generateIndex(artifacts);
    expect(rest).to.have.length(0);
    expect(file!.path).to.equal('index.json');
    const packageRevisions = Object.fromEntries([prev, otherPrev].sort().map((revision) => [revision, {}]));
    expect(JSON.parse(text(file!.content))).to.deep.equal({
      'openssl/3.2.1@acme': { revisions: { [rrev]: { packages: { [packageId]: { revisions: { [prev]: {} } } } } } },
      'openssl/3.2.1@acme/stable': { revisions: { [rrev]: { packages: {} } } },
      'zlib/1.3.1': {
        revisions: {
          [rrev]: { packages: { [packageId]: { revisions: packageRevisions } } },
          [otherRrev]: { packages: {} },
        },
      },
    });
    // Every level sorted, so the same artifacts in any order give the same bytes.
    const index = JSON.parse(text(file!.content));
    expect(Object.keys(index)).to.deep.equal(['openssl/3.2.1@acme', 'openssl/3.2.1@acme/stable', 'zlib/1.3.1']);
    expect(Object.keys(index['zlib/1.3.1'].revisions)).to.deep.equal([rrev, otherRrev].sort());
    expect(Object.keys(index['zlib/1.3.1'].revisions[rrev].packages[packageId].revisions)).to.deep.equal([prev, otherPrev].sort());
    const [reordered] = await handler.generateIndex([...artifacts].reverse());
    expect(text(reordered!.content)).to.equal(text(file!.content));
    expect(await handler.generateIndex([])).to.deep.equal([{ path: 'index.json', content: new TextEncoder().encode('{}\n') }]);
  });
});
