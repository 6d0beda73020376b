import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { fetchPackage, type FetchOptions } from '../../../supervisor/services/install/index.js';
import { fixtureWasm } from '../../support/fixtures.js';
import { makeZip, type ZipEntry } from '../../support/zips.js';
import { expectEmpty, expectFailure, fetchOptions, MINIMAL_MANIFEST, tempFolder, validationErrors } from './helpers.js';

const MiB = 1024 * 1024;

describe('install: ZIP uploads', () => {
  let scratch: Awaited<ReturnType<typeof tempFolder>>;
  let workDir: string;
  let wasm: Uint8Array;

  before(async () => {
    wasm = await fixtureWasm('good');
  });

  beforeEach(async () => {
    scratch = await tempFolder('zip');
    workDir = path.join(scratch.dir, 'work');
  });

  afterEach(() => scratch.remove());

  const plugin = (prefix = ''): ZipEntry[] => [
    { name: `${prefix}plugin.toml`, data: MINIMAL_MANIFEST },
    { name: `${prefix}plugin.wasm`, data: wasm },
  ];

  async function install(zip: Uint8Array, overrides: Partial<FetchOptions> = {}) {
    const file = path.join(scratch.dir, `upload-${Math.random().toString(16).slice(2)}.zip`);
    await writeFile(file, zip);
    return fetchPackage({ kind: 'zip', file }, fetchOptions(workDir, overrides));
  }

  /** The upload fails as expected and leaves nothing behind. */
  async function refused(zip: Uint8Array, status: number, code: string, message: RegExp, overrides: Partial<FetchOptions> = {}) {
    const error = await expectFailure(install(zip, overrides), status, code, message);
    await expectEmpty(workDir);
    return error;
  }

  it('installs a package at the root of the archive', async () => {
    const pkg = await install(makeZip([...plugin(), { name: 'README.md', data: 'hello' }]));
    try {
      expect(pkg.source).to.deep.equal({ type: 'wasm_zip', url: null, ref: null, resolvedCommit: null, path: null });
      expect(pkg.wasm).to.deep.equal(wasm);
      expect(pkg.manifest.format.key).to.equal('demo');
    } finally {
      await pkg.cleanup();
    }
    await expectEmpty(workDir);
  });

  it('installs a package under a single top folder, ignoring macOS metadata', async () => {
    const pkg = await install(
      makeZip([
        { name: 'demo-1.0.0/' },
        ...plugin('demo-1.0.0/'),
        { name: '__MACOSX/' },
        { name: '__MACOSX/demo-1.0.0/._plugin.toml', data: 'resource fork' },
      ]),
    );
    expect(pkg.wasmPath).to.equal('plugin.wasm');
    await pkg.cleanup();
    await expectEmpty(workDir);
  });

  it('accepts names written as "./plugin.toml"', async () => {
    const pkg = await install(makeZip([{ name: './' }, ...plugin('./')]));
    expect(pkg.wasmPath).to.equal('plugin.wasm');
    await pkg.cleanup();
  });

  it('refuses an archive with two top folders', async () => {
    const error = await refused(
      makeZip([...plugin('one/'), ...plugin('two/')]),
      422,
      'plugin_validation_failed',
      /^the ZIP has no plugin.toml at its root or in a single top folder: its top level holds "one", "two"$/,
    );
    expect(validationErrors(error).map((problem) => problem.field)).to.deep.equal(['plugin.toml']);
  });

  it('refuses an archive without plugin.toml', async () => {
    await refused(makeZip([{ name: 'plugin.wasm', data: wasm }]), 422, 'plugin_validation_failed', /its top level holds "plugin.wasm"/);
  });

  it('refuses a package without a component, naming the places searched', async () => {
    const manifestOnly = makeZip([{ name: 'plugin.toml', data: MINIMAL_MANIFEST }]);
    const error = await refused(manifestOnly, 422, 'plugin_validation_failed', /no .wasm component found/);
    expect(validationErrors(error)[0]!.message).to.include('target/wasm32-wasip2/release/*.wasm');
  });

  describe('entries that would land outside the folder', () => {
    for (const [name, reason] of [
      ['../evil', 'it contains a ".." segment'],
      ['plugin/../../evil', 'it contains a ".." segment'],
      ['/etc/x', 'it is absolute'],
      ['..\\evil', 'it contains a backslash (use "/" as the separator)'],
      ['C:/Windows/x', 'it starts with a drive letter'],
    ]) {
      it(`refuses "${name}"`, async () => {
        const message = `the ZIP entry "${name}" cannot be extracted safely: ${reason}`;
        const error = await refused(makeZip([...plugin(), { name, data: 'x' }]), 400, 'unsafe_zip', new RegExp(`^${escape(message)}$`));
        expect(error.message).to.equal(message);
      });
    }
  });

  it('refuses a symbolic link entry', async () => {
    await refused(
      makeZip([...plugin(), { name: 'link', data: '/etc/passwd', mode: 0o120777 }]),
      400,
      'unsafe_zip',
      /^the ZIP entry "link" is a symbolic link; a package may only hold files and folders$/,
    );
  });

  it('refuses a special file entry', async () => {
    await refused(makeZip([...plugin(), { name: 'fifo', data: '', mode: 0o010644 }]), 400, 'unsafe_zip', /"fifo" is a special file/);
  });

  describe('bombs and size limits', () => {
    const zeros = 300 * MiB;
    let deflatedZeros: Buffer;

    before(function () {
      this.timeout(120_000);
      deflatedZeros = deflateRawSync(Buffer.alloc(zeros));
    });

    it('refuses an entry compressed far beyond any real file (300 MiB of zeros)', async () => {
      await refused(
        makeZip([...plugin(), { name: 'zeros', data: new Uint8Array(), compressed: deflatedZeros, declaredSize: zeros, declaredCrc: 0 }]),
        400,
        'zip_bomb',
        /^the ZIP entry "zeros" inflates \d+:1 \(\d+ to 314572800 bytes\); entries over 1048576 bytes may compress at most 200:1$/,
      );
    });

    it('refuses an entry that inflates past the small size its header declares', async () => {
      await refused(
        makeZip([...plugin(), { name: 'zeros', data: new Uint8Array(), compressed: deflatedZeros, declaredSize: 1000, declaredCrc: 0 }]),
        400,
        'zip_bomb',
        /^the ZIP entry "zeros" inflates past its declared size of 1000 bytes$/,
      );
    });

    it('refuses archives whose files add up to too many bytes', async () => {
      const noise = (name: string): ZipEntry => ({ name, data: randomBytes(600 * 1024), method: 'store' });
      await refused(
        makeZip([...plugin(), noise('a.bin'), noise('b.bin')]),
        413,
        'zip_too_large',
        /^the ZIP's files add up to more than 1048576 bytes uncompressed, the most accepted$/,
        { zipLimits: { maxTotalBytes: MiB } },
      );
    });

    it('refuses too many entries before extracting any', async () => {
      const entries = Array.from({ length: 1001 }, (_, index): ZipEntry => ({ name: `f${index}`, data: '', method: 'store' }));
      await refused(makeZip(entries), 413, 'zip_too_large', /^the ZIP has 1001 entries; at most 1000 are accepted$/);
    });
  });

  describe('damaged archives', () => {
    it('refuses a file that is not a ZIP', async () => {
      await refused(new TextEncoder().encode('just some text, not an archive'), 400, 'invalid_zip', /^the file is not a ZIP archive$/);
    });

    it('refuses a truncated archive', async () => {
      const zip = makeZip(plugin());
      await refused(zip.subarray(0, zip.length - 30), 400, 'invalid_zip', /^the ZIP archive is truncated: its central directory is missing$/);
    });

    it('refuses corrupted compressed data', async () => {
      const zip = makeZip(plugin());
      const damaged = Buffer.from(zip);
      // plugin.wasm's deflated data starts right after its name in the local header.
      const start = zip.indexOf('plugin.wasm') + 'plugin.wasm'.length;
      for (let offset = start + 2; offset < start + 20; offset++) damaged[offset]! ^= 0x5a;
      // Inflating fails, or (depending on the bytes) yields data whose CRC-32 is wrong.
      await refused(damaged, 400, 'invalid_zip', /^the ZIP (archive is corrupt \(entry "plugin.wasm"\): |entry "plugin.wasm" is corrupt)/);
    });

    it('refuses an entry whose CRC-32 does not match', async () => {
      await refused(
        makeZip([{ name: 'plugin.toml', data: MINIMAL_MANIFEST, declaredCrc: 1234 }, { name: 'plugin.wasm', data: wasm }]),
        400,
        'invalid_zip',
        /^the ZIP entry "plugin.toml" is corrupt: its CRC-32 does not match its contents$/,
      );
    });

    it('refuses two entries with the same name', async () => {
      await refused(makeZip([...plugin(), { name: 'plugin.toml', data: 'again' }]), 400, 'invalid_zip', /"plugin.toml" clashes with another entry/);
    });
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
