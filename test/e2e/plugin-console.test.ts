// A TypeScript plugin as a new author writes it (test/fixtures/careless): its bug, a missing
// null check, reaches the uploader as a 502 plugin_crashed that names the TypeError and the
// TypeScript line, not as "unreachable", and the plugin goes on serving.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { sqliteFixture, type EngineFixture } from '../support/engines.js';
import { repoRoot } from '../support/fixtures.js';
import { pluginFolder, startE2E, type E2E } from './harness.js';

describe('an uncaught error in a TypeScript plugin, end to end', function () {
  this.timeout(180_000);
  let engine: EngineFixture;
  let e2e: E2E;
  const descriptor = (release: unknown) => JSON.stringify({ name: 'left-pad', release });

  before(async () => {
    engine = sqliteFixture();
    e2e = await startE2E(engine);
    const toml = await readFile(path.join(repoRoot, 'test/fixtures/careless/plugin.toml'), 'utf8');
    const installed = await e2e.call('POST', '/api/v1/plugins/install/local', { body: { path: await pluginFolder(e2e.localRoot, 'careless', toml, 'careless') } });
    expect(installed.status, installed.text).to.equal(201);
    const created = await e2e.call('POST', '/api/v1/repositories', { body: { key: 'careless-repo', format: 'careless' } });
    expect(created.status, created.text).to.equal(201);
  });
  after(async () => {
    await e2e?.close();
    await engine?.dispose();
  });

  it('answers 502 plugin_crashed with the TypeError, its message and a stack in src/index.ts lines', async () => {
    const answer = await e2e.call('PUT', '/api/v1/repositories/careless-repo/artifacts/a.json', { body: descriptor(null) });
    expect(answer.status, answer.text).to.equal(502);
    expect(answer.json.error).to.equal('plugin_crashed');
    const message: string = answer.json.message;
    expect(message).to.include('TypeError: ');
    expect(message).to.include('descriptor.release is null');
    // versionOf's `return descriptor.release!.version;`, called from parseMetadata.
    expect(message).to.match(/at versionOf \(src\/index\.ts:29:\d+\)\n\s+at parseMetadata \(src\/index\.ts:43:\d+\)/);
    expect(message).not.to.include('unreachable');
    expect(message).not.to.include('expected a string');
    expect((await e2e.call('GET', '/api/v1/repositories/careless-repo/artifacts')).json.total).to.equal(0);
  });

  it('takes the next upload on a fresh instance, and its native protocol still answers', async () => {
    const uploaded = await e2e.call('PUT', '/api/v1/repositories/careless-repo/artifacts/b.json', { body: descriptor({ version: '1.2.3' }) });
    expect(uploaded.status, uploaded.text).to.equal(201);
    const index = await e2e.call('GET', '/ext/careless/careless-repo/index.json?x=1');
    expect(index.status, index.text).to.equal(200);
    expect(index.json).to.deep.equal({ repo: 'careless-repo', query: 'x=1' });
  });

  it('answers a thrown string (the plugin\'s own err) with 422, as before', async () => {
    const answer = await e2e.call('PUT', '/api/v1/repositories/careless-repo/artifacts/c.json', { body: '{"release": null}' });
    expect(answer.status, answer.text).to.equal(422);
    expect(answer.json.message).to.include('missing name');
  });
});
