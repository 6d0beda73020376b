import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { fetchPackage } from '../../../supervisor/services/install/index.js';
import { fixtureWasm } from '../../support/fixtures.js';
import { expectEmpty, expectFailure, fetchOptions, MINIMAL_MANIFEST, tempFolder, writeTree } from './helpers.js';

const run = promisify(execFile);

describe('install: local folders', () => {
  let scratch: Awaited<ReturnType<typeof tempFolder>>;
  let root: string;
  let outside: string;
  let workDir: string;
  let wasm: Uint8Array;

  before(async () => {
    wasm = await fixtureWasm('good');
  });

  beforeEach(async () => {
    scratch = await tempFolder('local');
    root = path.join(scratch.dir, 'plugins');
    outside = path.join(scratch.dir, 'elsewhere');
    workDir = path.join(scratch.dir, 'work');
    await writeTree(path.join(root, 'demo'), { 'plugin.toml': MINIMAL_MANIFEST, 'plugin.wasm': wasm });
    await writeTree(outside, { 'plugin.toml': MINIMAL_MANIFEST, 'plugin.wasm': wasm });
  });

  afterEach(() => scratch.remove());

  const local = (folder: string, roots = [root]) => fetchPackage({ kind: 'local', path: folder }, fetchOptions(workDir, { localRoots: roots }));

  it('installs a folder inside a root from a copy of what it validated', async () => {
    const folder = path.join(root, 'demo');
    const pkg = await local(folder);
    try {
      expect(pkg.source).to.deep.equal({ type: 'wasm_local', url: folder, ref: null, resolvedCommit: null, path: null });
      expect(pkg.dir.startsWith(workDir)).to.equal(true);
      // A later change to the folder does not reach the package.
      await writeFile(path.join(folder, 'plugin.wasm'), 'changed');
      expect(new Uint8Array(await readFile(path.join(pkg.dir, 'plugin.wasm')))).to.deep.equal(wasm);
      expect(pkg.wasm).to.deep.equal(wasm);
    } finally {
      await pkg.cleanup();
    }
    await expectEmpty(workDir);
  });

  it('accepts a root given through a symbolic link', async () => {
    const linkedRoot = path.join(scratch.dir, 'linked-root');
    await symlink(root, linkedRoot);
    const pkg = await local(path.join(linkedRoot, 'demo'), [linkedRoot]);
    await pkg.cleanup();
  });

  it('refuses a folder outside the roots', async () => {
    const error = await expectFailure(local(outside), 400, 'local_path_not_allowed');
    expect(error.message).to.equal(`"${outside}" is outside the folders local installs may read: ${root}`);
  });

  it('refuses a symbolic link inside a root that leads outside it', async () => {
    const link = path.join(root, 'sneaky');
    await symlink(outside, link);
    await expectFailure(local(link), 400, 'local_path_not_allowed', new RegExp(`^"${link}" \\(it leads to "${outside}"\\) is outside`));
    await expectEmpty(workDir);
  });

  it('refuses "..", which realpath resolves before the check', async () => {
    await expectFailure(local(path.join(root, '..', 'elsewhere')), 400, 'local_path_not_allowed');
  });

  it('refuses a file', async () => {
    await expectFailure(local(path.join(root, 'demo', 'plugin.toml')), 400, 'invalid_local_path', /is not a directory$/);
  });

  it('refuses a relative path', async () => {
    await expectFailure(local('plugins/demo'), 400, 'invalid_local_path', /^path must be absolute; "plugins\/demo" is relative$/);
  });

  it('refuses a folder that does not exist', async () => {
    await expectFailure(local(path.join(root, 'missing')), 400, 'invalid_local_path', /does not exist on the server$/);
  });

  it('refuses every local install when no root is configured', async () => {
    await expectFailure(local(path.join(root, 'demo'), []), 400, 'local_path_not_allowed', /PLUGINS_LOCAL_ROOTS/);
  });

  it('refuses a FIFO where a file should be, without waiting on it', async () => {
    const folder = path.join(root, 'fifo');
    await writeTree(folder, { 'plugin.wasm': wasm });
    await run('mkfifo', [path.join(folder, 'plugin.toml')]);
    const error = await expectFailure(local(folder), 422, 'plugin_validation_failed');
    expect(error.extra.validation_errors).to.deep.equal([{ field: 'plugin.toml', message: 'plugin.toml is not a regular file' }]);
    await expectEmpty(workDir);
  });

  it('does not follow a link inside the package to a file outside it', async () => {
    const folder = path.join(root, 'linked-manifest');
    await mkdir(folder);
    await writeFile(path.join(folder, 'plugin.wasm'), wasm);
    await symlink(path.join(outside, 'plugin.toml'), path.join(folder, 'plugin.toml'));
    const error = await expectFailure(local(folder), 422, 'plugin_validation_failed');
    expect(error.extra.validation_errors).to.deep.equal([
      { field: 'plugin.toml', message: 'plugin.toml is a symbolic link leading outside the package' },
    ]);
    await expectEmpty(workDir);
  });
});
