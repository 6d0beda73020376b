// `plugin-keeper test` on a TypeScript plugin with console output and a bug
// (test/fixtures/careless): the author sees the plugin's lines, the uncaught error with its
// stack in src/index.ts lines, exit status 1; and `--request` shows a handle-request answer.
import { expect } from 'chai';
import { cp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fixtureWasm, repoRoot } from '../support/fixtures.js';
import { tempFolder } from '../services/install/helpers.js';
import { pluginKeeper } from './helpers.js';

describe('plugin-keeper test on a TypeScript plugin with console output and a bug', function () {
  this.timeout(180_000);
  let root: string;
  let remove: () => Promise<void>;
  let pluginDir: string;
  const artifact = (name: string) => path.join(root, name);

  before(async () => {
    ({ dir: root, remove } = await tempFolder('console'));
    pluginDir = path.join(root, 'careless');
    await cp(path.join(repoRoot, 'test/fixtures/careless'), pluginDir, { recursive: true });
    await writeFile(path.join(pluginDir, 'plugin.wasm'), await fixtureWasm('careless'));
    await writeFile(artifact('unreleased.json'), '{"name": "left-pad", "release": null}');
    await writeFile(artifact('released.json'), '{"name": "left-pad", "release": {"version": "1.2.3"}}');
  });
  after(() => remove());

  it('shows the plugin\'s console lines and the uncaught TypeError with its TypeScript stack, exit 1', async () => {
    const result = await pluginKeeper(['test', pluginDir, artifact('unreleased.json')]);
    expect(result.exitCode, result.stderr).to.equal(1);
    // console.log and console.error, as they came.
    expect(result.stderr).to.match(/^\[plugin stdout\] validating unreleased\.json \(37 bytes\)$/m);
    expect(result.stderr).to.match(/^\[plugin stderr\] parsing left-pad$/m);
    expect(result.stderr).to.match(/^\[plugin stderr\] uncaught TypeError: .*descriptor\.release is null$/m);
    expect(result.stderr).to.match(/^\[plugin stderr\]     at versionOf \(src\/index\.ts:29:\d+\)$/m);
    // One prefix a line, never two.
    expect(result.stderr).not.to.match(/\] \[plugin /);
    // The failed call carries the same.
    expect(result.stdout).to.match(/^parse-metadata +FAILED /m);
    expect(result.stdout).to.match(/plugin_crashed: the plugin trapped: uncaught TypeError: .*descriptor\.release is null\n +at versionOf \(src\/index\.ts:29:\d+\)\n +at parseMetadata \(src\/index\.ts:43:\d+\)\n/);
    expect(result.stdout).not.to.include('unreachable');
    expect(result.stdout).not.to.match(/^generate-index/m);

    const json = JSON.parse((await pluginKeeper(['test', pluginDir, artifact('unreleased.json'), '--json'])).stdout);
    expect(json.ok).to.equal(false);
    expect(json.calls[1].error.code).to.equal('plugin_crashed');
    expect(json.calls[1].error.message).to.include('at versionOf (src/index.ts:29:');
  });

  it('sends --request to handle-request and prints the status, headers and body', async () => {
    const result = await pluginKeeper(['test', pluginDir, artifact('released.json'), '--request', 'GET /index.json?page=2']);
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/^handle-request +ok /m);
    expect(result.stdout).to.include('  status 200\n  content-type: application/json\n  body (32 bytes)\n    {"repo":"test","query":"page=2"}');
    expect(result.stderr).to.match(/^\[plugin stdout\] GET \/index\.json$/m);

    const json = JSON.parse((await pluginKeeper(['test', pluginDir, artifact('released.json'), '--request', 'GET /nothing', '--json'])).stdout);
    expect(json.calls.map((call: { call: string }) => call.call)).to.deep.equal(['validate', 'parse-metadata', 'generate-index', 'handle-request']);
    expect(json.calls[3].result).to.deep.equal({ status: 404, headers: [], body: { size_bytes: 12, text: 'no such file' } });
  });

  it('refuses a --request that is not a method and a path, before starting anything', async () => {
    const result = await pluginKeeper(['test', pluginDir, artifact('released.json'), '--request', 'index.json']);
    expect(result.exitCode).to.equal(2);
    expect(result.stderr).to.include('--request takes a method and a path, e.g. "GET /index.json", not "index.json"');
  });
});
