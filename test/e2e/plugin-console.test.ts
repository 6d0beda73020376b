// A TypeScript plugin as a new author writes it (test/fixtures/careless), on both engines: its
// bug, a missing null check, reaches the uploader as a 502 plugin_crashed that names the
// TypeError and the TypeScript line, not as "unreachable"; its console.log / console.error
// lines and the uncaught error's stack are in the plugin's stored log; it goes on serving.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { postgresFixture, sqliteFixture } from '../support/engines.js';
import { repoRoot } from '../support/fixtures.js';
import { eventually, pluginFolder, startE2E, type E2E } from './harness.js';

for (const engine of [sqliteFixture(), postgresFixture()]) {
  describe(`an uncaught error in a TypeScript plugin, end to end (${engine.engine})`, function () {
    this.timeout(180_000);
    let e2e: E2E;
    let pluginId: string;
    const descriptor = (release: unknown) => JSON.stringify({ name: 'left-pad', release });

    before(async () => {
      e2e = await startE2E(engine);
      const toml = await readFile(path.join(repoRoot, 'test/fixtures/careless/plugin.toml'), 'utf8');
      const installed = await e2e.call('POST', '/api/v1/plugins/install/local', { body: { path: await pluginFolder(e2e.localRoot, 'careless', toml, 'careless') } });
      expect(installed.status, installed.text).to.equal(201);
      pluginId = installed.json.id;
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

    it("keeps its console.log line on stdout and console.error and the uncaught error's stack on stderr, in the stored log", async () => {
      const texts = async (stream: string): Promise<string[]> => {
        const answer = await e2e.call('GET', `/api/v1/plugins/${pluginId}/logs?stream=${stream}&limit=1000`);
        expect(answer.status, answer.text).to.equal(200);
        return answer.json.items.map((line: { text: string }) => line.text);
      };
      // The lines reach the database a moment after the call answered.
      expect(await eventually(async () => (await texts('stderr')).some((text) => text.includes('at versionOf'))), 'the stack is stored').to.equal(true);
      expect(await texts('stdout')).to.include(`validating a.json (${descriptor(null).length} bytes)`);
      const stderr = await texts('stderr');
      expect(stderr).to.include('parsing left-pad');
      const uncaught = stderr.findIndex((text) => text.startsWith('uncaught TypeError: '));
      expect(uncaught, stderr.join('\n')).to.be.at.least(0);
      expect(stderr[uncaught]).to.include('descriptor.release is null');
      expect(stderr[uncaught + 1]).to.match(/^\s+at versionOf \(src\/index\.ts:29:\d+\)$/);
      // Each line once, in its own stream, without the host's prefix.
      expect(stderr.filter((text) => text === 'parsing left-pad')).to.have.length(1);
      expect([...stderr, ...(await texts('stdout'))].some((text) => text.startsWith('[plugin '))).to.equal(false);
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
}
