// Reading a fetched folder into a package: the component's search order, one 422 with every
// problem, signatures end to end, and the package's own copy of what was validated.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fetchPackage, generateKeyPair, sign } from '../../../supervisor/services/install/index.js';
import { locateWasm, SEARCHED_PLACES } from '../../../supervisor/services/install/locate.js';
import { expectEmpty, expectFailure, fetchOptions, MINIMAL_MANIFEST, tempFolder, validationErrors, writeTree } from './helpers.js';

const WASM = new TextEncoder().encode('\0asm fake component');

describe('install: package', () => {
  let scratch: Awaited<ReturnType<typeof tempFolder>>;
  let root: string;
  let workDir: string;

  beforeEach(async () => {
    scratch = await tempFolder('package');
    root = path.join(scratch.dir, 'roots');
    workDir = path.join(scratch.dir, 'work');
  });

  afterEach(() => scratch.remove());

  /** A package folder with `files`, fetched as a local install. */
  async function packageOf(files: Record<string, string | Uint8Array>, overrides: Parameters<typeof fetchOptions>[1] = {}) {
    const folder = path.join(root, `p${Math.random().toString(16).slice(2)}`);
    await writeTree(folder, files);
    return fetchPackage({ kind: 'local', path: folder }, fetchOptions(workDir, { localRoots: [root], ...overrides }));
  }

  it('yields the manifest, the component, its digest and a folder with exactly the validated files', async () => {
    const pkg = await packageOf({ 'plugin.toml': `${MINIMAL_MANIFEST}\n[misc]\nx = 1\n`, 'dist/plugin.wasm': WASM, 'README.md': 'not copied' });
    try {
      expect(pkg.manifest.plugin.name).to.equal('demo-format');
      expect(pkg.wasmPath).to.equal('dist/plugin.wasm');
      expect(pkg.wasm).to.deep.equal(WASM);
      expect(pkg.wasmSha256).to.equal(createHash('sha256').update(WASM).digest('hex'));
      expect(pkg.signature).to.equal('absent');
      expect(pkg.warnings).to.deep.equal(['unknown manifest key "misc" was ignored']);
      expect((await readdir(pkg.dir, { recursive: true })).sort()).to.deep.equal(['dist', 'dist/plugin.wasm', 'plugin.toml']);
    } finally {
      await pkg.cleanup();
      await pkg.cleanup(); // idempotent
    }
    await expectEmpty(workDir);
  });

  it('reports the manifest and the signature problems in one 422', async () => {
    const manifest = '[plugin]\nname = "X"\nversion = "one"\n[format]\nkey = "N-pm"\ndisplay_name = "N"\n';
    const error = await expectFailure(
      packageOf({ 'plugin.toml': manifest, 'plugin.wasm': WASM }, { requireSigned: true }),
      422,
      'plugin_validation_failed',
      /^the plugin package is not valid: plugin.name: .*; plugin.version: .*; format.key: .*; plugin.wasm.sig: this server only/,
    );
    expect(validationErrors(error).map((problem) => problem.field)).to.deep.equal(['plugin.name', 'plugin.version', 'format.key', 'plugin.wasm.sig']);
    await expectEmpty(workDir);
  });

  it('still checks the component and its signature when plugin.toml is missing', async () => {
    const error = await expectFailure(packageOf({ 'plugin.wasm': WASM, 'plugin.wasm.sig': 'garbage' }), 422, 'plugin_validation_failed');
    expect(validationErrors(error)).to.deep.equal([
      { field: 'plugin.toml', message: 'the package has no plugin.toml at its root' },
      { field: 'plugin.wasm.sig', message: 'plugin.wasm.sig is not the base64 of a 64-byte Ed25519 signature' },
    ]);
  });

  it('names every place searched when there is no component', async () => {
    const error = await expectFailure(packageOf({ 'plugin.toml': MINIMAL_MANIFEST, 'lib/other.wasm': WASM }), 422, 'plugin_validation_failed');
    const [problem] = validationErrors(error);
    expect(problem!.field).to.equal('wasm');
    for (const place of SEARCHED_PLACES) expect(problem!.message).to.include(place);
  });

  it('reports a TOML syntax error with its position', async () => {
    const error = await expectFailure(packageOf({ 'plugin.toml': '[plugin\n', 'plugin.wasm': WASM }), 422, 'plugin_validation_failed');
    expect(validationErrors(error)[0]!.message).to.match(/^not valid TOML: line 1, column \d+/);
  });

  it('refuses a plugin.toml that is not UTF-8', async () => {
    const notUtf8 = packageOf({ 'plugin.toml': new Uint8Array([0xff, 0xfe, 0x00]), 'plugin.wasm': WASM });
    const error = await expectFailure(notUtf8, 422, 'plugin_validation_failed');
    expect(validationErrors(error)).to.deep.equal([{ field: 'plugin.toml', message: 'plugin.toml is not UTF-8 text' }]);
  });

  it('verifies a signed package against the trusted keys', async () => {
    const keys = generateKeyPair();
    const signed = { 'plugin.toml': MINIMAL_MANIFEST, 'plugin.wasm': WASM, 'plugin.wasm.sig': sign(WASM, keys.privateKeyPem) };
    const pkg = await packageOf(signed, { requireSigned: true, trustedPublicKeys: [keys.publicKey] });
    try {
      expect(pkg.signature).to.equal('verified');
      expect(await readFile(path.join(pkg.dir, 'plugin.wasm.sig'), 'utf8')).to.equal(signed['plugin.wasm.sig']);
    } finally {
      await pkg.cleanup();
    }
    const other = generateKeyPair();
    const error = await expectFailure(packageOf(signed, { trustedPublicKeys: [other.publicKey] }), 422, 'plugin_validation_failed');
    expect(validationErrors(error).map((problem) => problem.field)).to.deep.equal(['plugin.wasm.sig']);
    await expectEmpty(workDir);
  });

  describe('component search order', () => {
    const place = async (files: string[], declared: string | null = null) => {
      const folder = path.join(scratch.dir, `search${Math.random().toString(16).slice(2)}`);
      await writeTree(folder, Object.fromEntries(files.map((file) => [file, WASM])));
      return locateWasm(folder, declared);
    };

    it('follows the contract: manifest, plugin.wasm, out/, dist/, Rust release folders, the only *.wasm', async () => {
      const all = [
        'named.wasm',
        'plugin.wasm',
        'out/plugin.wasm',
        'dist/plugin.wasm',
        'target/wasm32-wasip2/release/p2.wasm',
        'target/wasm32-wasip1/release/p1.wasm',
        'target/wasm32-wasi/release/wasi.wasm',
      ];
      const expected = ['named.wasm', ...all.slice(1)];
      for (let index = 0; index < all.length; index++) {
        const declared = index === 0 ? 'named.wasm' : null;
        expect(await place(all.slice(index), declared)).to.deep.equal({ found: true, path: expected[index] });
      }
      expect(await place(['only.wasm'])).to.deep.equal({ found: true, path: 'only.wasm' });
    });

    it('refuses to guess between several candidates', async () => {
      const result = await place(['target/wasm32-wasip2/release/a.wasm', 'target/wasm32-wasip2/release/b.wasm']);
      expect(result).to.deep.equal({
        found: false,
        problem: {
          field: 'wasm',
          message: 'target/wasm32-wasip2/release holds several .wasm files (a.wasm, b.wasm); name the component with [plugin].wasm in plugin.toml',
        },
      });
      expect(await place(['a.wasm', 'b.wasm'])).to.have.property('found', false);
    });

    it('holds the manifest to the path it names', async () => {
      expect(await place(['plugin.wasm'], 'build/x.wasm')).to.deep.equal({
        found: false,
        problem: { field: 'plugin.wasm', message: '"build/x.wasm" is not a file in the package' },
      });
      expect(await place(['plugin.wasm'], './plugin.wasm')).to.deep.equal({ found: true, path: 'plugin.wasm' });
    });

    it('refuses a manifest path leaving the package', async () => {
      for (const [declared, reason] of [
        ['../outside.wasm', 'it contains a ".." segment'],
        ['/etc/x.wasm', 'it is absolute'],
        ['C:/x.wasm', 'it starts with a drive letter'],
        ['a\\b.wasm', 'it contains a backslash (use "/" as the separator)'],
      ] as const) {
        expect(await place(['plugin.wasm'], declared)).to.deep.equal({
          found: false,
          problem: { field: 'plugin.wasm', message: `"${declared}" is not a path inside the package: ${reason}` },
        });
      }
    });

    it('skips a folder named like a candidate', async () => {
      const folder = path.join(scratch.dir, 'dir-candidate');
      await writeTree(folder, { 'plugin.wasm/inner': 'x', 'dist/plugin.wasm': WASM });
      expect((await stat(path.join(folder, 'plugin.wasm'))).isDirectory()).to.equal(true);
      expect(await locateWasm(folder, null)).to.deep.equal({ found: true, path: 'dist/plugin.wasm' });
    });
  });
});
