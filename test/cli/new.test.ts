import { expect } from 'chai';
import { execa } from 'execa';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { checkManifest } from '../../supervisor/services/install/manifest.js';
import { tempFolder } from '../services/install/helpers.js';
import { repoRoot } from '../support/fixtures.js';
import { pluginKeeper } from './helpers.js';

async function filesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

describe('plugin-keeper new', function () {
  this.timeout(60_000);
  let parent: string;
  let remove: () => Promise<void>;

  beforeEach(async () => {
    ({ dir: parent, remove } = await tempFolder('new'));
  });
  afterEach(() => remove());

  it('scaffolds a package whose manifest the server accepts and whose sources type-check', async () => {
    const result = await pluginKeeper(['new', 'acme-format', '--dir', parent]);
    expect(result.exitCode, result.stderr).to.equal(0);
    const dir = path.join(parent, 'acme-format');
    expect(result.stdout).to.equal(dir);

    expect(await filesIn(dir)).to.deep.equal([
      '.gitignore',
      'README.md',
      'package.json',
      'plugin.toml',
      'src/index.ts',
      'test/sample.json',
      'tsconfig.json',
      'types/format-plugin.d.ts',
      'types/interfaces/artifact-keeper-format-handler.d.ts',
    ]);
    const check = checkManifest(await readFile(path.join(dir, 'plugin.toml'), 'utf8'));
    expect(check.problems).to.deep.equal([]);
    expect(check.warnings).to.deep.equal([]);
    expect(check.manifest!.plugin.name).to.equal('acme-format');
    expect(check.manifest!.format.key).to.equal('acme-format');
    expect(check.manifest!.capabilities).to.deep.equal({
      parse_metadata: true,
      validate_artifact: true,
      generate_index: true,
      handle_request: false,
    });

    const index = await readFile(path.join(dir, 'src/index.ts'), 'utf8');
    expect(index).to.include("const FORMAT_KEY = 'acme-format';");
    expect(index).not.to.include('requestHandler');
    expect(index).not.to.match(/\{\{/);
    const pkg = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8'));
    expect(pkg.scripts).to.include({ build: 'plugin-keeper build', test: 'plugin-keeper test . test/sample.json' });
    expect(await readFile(path.join(dir, 'types/interfaces/artifact-keeper-format-handler.d.ts'), 'utf8')).to.include(
      "declare module 'artifact-keeper:format/handler@1.0.0'",
    );

    // The generated types and the template agree: the scaffold type-checks as it is
    // (the --v2 variant is type-checked by the build test).
    const tsc = await execa(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', dir], { reject: false });
    expect(tsc.exitCode, tsc.stdout).to.equal(0);
  });

  it('with --v2 and --format-key, serves requests for the given key', async () => {
    const result = await pluginKeeper(['new', 'acme-plugin', '--v2', '--format-key', 'acme'], { cwd: parent });
    expect(result.exitCode, result.stderr).to.equal(0);
    const dir = path.join(parent, 'acme-plugin');
    const check = checkManifest(await readFile(path.join(dir, 'plugin.toml'), 'utf8'));
    expect(check.manifest!.format.key).to.equal('acme');
    expect(check.manifest!.capabilities.handle_request).to.equal(true);
    const index = await readFile(path.join(dir, 'src/index.ts'), 'utf8');
    expect(index).to.include("const FORMAT_KEY = 'acme';");
    expect(index).to.include('export const requestHandler: typeof RequestHandler');
    expect(await filesIn(dir)).to.include('types/interfaces/artifact-keeper-format-request-handler.d.ts');
  });

  for (const [name, reason] of [
    ['Acme', 'is not a valid plugin name'],
    ['ab', 'is not a valid plugin name'],
    ['1acme', 'is not a valid plugin name'],
    ['acme_format', 'is not a valid plugin name'],
    ['../acme', 'is not a valid plugin name'],
  ]) {
    it(`refuses the name "${name}" with the manifest's own reason`, async () => {
      const result = await pluginKeeper(['new', name!, '--dir', parent]);
      expect(result.exitCode).to.equal(2);
      expect(result.stderr).to.include(reason);
      expect(await readdir(parent)).to.deep.equal([]);
    });
  }

  it('refuses a folder that exists and is not empty, and leaves it alone', async () => {
    const dir = path.join(parent, 'acme-format');
    await mkdir(dir);
    await writeFile(path.join(dir, 'plugin.toml'), 'mine');
    const result = await pluginKeeper(['new', 'acme-format', '--dir', parent]);
    expect(result.exitCode).to.equal(1);
    expect(result.stderr).to.include('already exists and is not empty');
    expect(await readdir(dir)).to.deep.equal(['plugin.toml']);
    expect(await readFile(path.join(dir, 'plugin.toml'), 'utf8')).to.equal('mine');
  });

  it('fills an existing empty folder', async () => {
    await mkdir(path.join(parent, 'acme-format'));
    const result = await pluginKeeper(['new', 'acme-format', '--dir', parent]);
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(await filesIn(path.join(parent, 'acme-format'))).to.include('plugin.toml');
  });

  it('answers --help with its usage, and a missing name with a usage error', async () => {
    const help = await pluginKeeper(['new', '--help']);
    expect(help.exitCode).to.equal(0);
    expect(help.stdout).to.match(/^usage: plugin-keeper new NAME/);
    const missing = await pluginKeeper(['new']);
    expect(missing.exitCode).to.equal(2);
    expect(missing.stderr).to.include('new needs the plugin name');
  });
});
