// A 1.1.0 plugin end to end, over real HTTP, on SQLite and on PostgreSQL: the upload's staged
// file read by the plugin host (never sent whole), a limit of ARTIFACTS_MAX_MB rather than half
// the plugin's memory, properties in the API and in generate-index's input with absolute URLs
// on PUBLIC_URL, clean errors for a plugin that misuses its handle, and the reparse endpoint.
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { postgresFixture, sqliteFixture, type EngineFixture } from '../support/engines.js';
import { manifest, pluginFolder, resetService, startE2E, type Answer, type E2E } from './harness.js';

const REPOS = '/api/v1/repositories';
const PUBLIC_URL = 'https://repo.example/pk';
const MiB = 1024 * 1024;

/** "DEMO" then `size - 4` bytes of 1: what stream.wat accepts, with an easy byte sum. */
function streamArtifact(size: number): { data: Buffer; sum: number } {
  const data = Buffer.alloc(size, 1);
  data.write('DEMO');
  return { data, sum: 68 + 69 + 77 + 79 + (size - 4) };
}

function expectError(answer: Answer, status: number, code: string, message?: RegExp): void {
  expect(answer.status, answer.text).to.equal(status);
  expect(answer.json?.error, answer.text).to.equal(code);
  if (message) expect(answer.json.message).to.match(message);
}

for (const makeEngine of [sqliteFixture, postgresFixture]) {
  describe(`format interface 1.1.0 end to end (${makeEngine().engine})`, function () {
    this.timeout(90_000);
    let engine: EngineFixture;
    let e2e: E2E;

    before(async () => {
      engine = makeEngine();
      e2e = await startE2E(engine, { PUBLIC_URL, ARTIFACTS_MAX_MB: '8' });
    });
    after(async () => {
      await e2e?.close();
      await engine?.dispose();
    });
    afterEach(() => resetService(e2e));

    async function installStream(memoryMb: number): Promise<void> {
      const toml = manifest(
        'stream-format',
        '1.0.0',
        'stream',
        `\n[capabilities]\nparse_metadata = true\nvalidate_artifact = true\ngenerate_index = true\n\n[requirements]\nmax_memory_mb = ${memoryMb}\n`,
      );
      const installed = await e2e.call('POST', '/api/v1/plugins/install/local', { body: { path: await pluginFolder(e2e.localRoot, 'stream', toml, 'stream') } });
      expect(installed.status, installed.text).to.equal(201);
      const created = await e2e.call('POST', REPOS, { body: { key: 'streams', format: 'stream' } });
      expect(created.status, created.text).to.equal(201);
    }

    it('stores an upload larger than half the plugin memory, with its properties, and indexes it with absolute URLs', async () => {
      await installStream(4);
      const big = streamArtifact(6 * MiB);
      const uploaded = await e2e.call('PUT', `${REPOS}/streams/artifacts/pkgs/a.sum`, { body: big.data });
      expect(uploaded.status, uploaded.text).to.equal(201);
      expect(uploaded.json).to.include({ version: String(big.sum), size_bytes: big.data.length, checksum_sha256: createHash('sha256').update(big.data).digest('hex') });
      expect(uploaded.json.metadata.properties).to.deep.equal({ magic: 'DEMO', size: String(big.data.length), 'past-end': '0' });
      expect(Object.keys(uploaded.json.metadata.properties)).to.deep.equal(['magic', 'size', 'past-end'], "in the plugin's order");
      expect(uploaded.json).not.to.have.property('parsed_by');

      const listed = await e2e.call('GET', `${REPOS}/streams/artifacts`);
      expect(listed.json.items[0].metadata.properties).to.deep.equal(uploaded.json.metadata.properties);

      const small = streamArtifact(10);
      expect((await e2e.call('PUT', `${REPOS}/streams/artifacts/b.demo`, { body: small.data })).status).to.equal(201);
      const index = await e2e.call('GET', `${REPOS}/streams/index/index.txt`);
      expect(index.status, index.text).to.equal(200);
      const downloads = `${PUBLIC_URL}/api/v1/repositories/streams/artifacts`;
      expect(index.text).to.equal(
        `${downloads}/b.demo magic=DEMO;size=10;past-end=0;\n` + `${downloads}/pkgs/a.sum magic=DEMO;size=${big.data.length};past-end=0;\n`,
      );

      // The server's own limit still applies.
      expectError(await e2e.call('PUT', `${REPOS}/streams/artifacts/c.sum`, { body: streamArtifact(9 * MiB).data }), 413, 'payload_too_large', /ARTIFACTS_MAX_MB/);
    });

    it('answers a guest err with 422 and a handle misuse with plugin_crashed, storing nothing', async () => {
      await installStream(16);
      const bad = Buffer.from('NOPE and more');
      expectError(await e2e.call('PUT', `${REPOS}/streams/artifacts/x.demo`, { body: bad }), 422, 'artifact_invalid', /^bad magic: expected DEMO$/);
      const kept = await e2e.call('PUT', `${REPOS}/streams/artifacts/keep/x.demo`, { body: streamArtifact(100).data });
      expect(kept.json?.error, kept.text).to.equal('plugin_crashed');
      expect(kept.json.message).to.match(/without dropping the artifact handle/);
      const stale = await e2e.call('PUT', `${REPOS}/streams/artifacts/stale/x.demo`, { body: streamArtifact(100).data });
      expect(stale.json?.error, stale.text).to.equal('plugin_crashed');
      expect((await e2e.call('GET', `${REPOS}/streams/artifacts`)).json.total).to.equal(0);
      // The plugin keeps serving.
      expect((await e2e.call('PUT', `${REPOS}/streams/artifacts/ok.demo`, { body: streamArtifact(100).data })).status).to.equal(201);
    });

    it('re-parses a repository on an admin request and rebuilds its index', async () => {
      await installStream(16);
      expect((await e2e.call('PUT', `${REPOS}/streams/artifacts/a.demo`, { body: streamArtifact(20).data })).status).to.equal(201);
      expect((await e2e.call('PUT', `${REPOS}/streams/artifacts/b.sum`, { body: streamArtifact(30).data })).status).to.equal(201);
      const before = (await e2e.call('GET', `${REPOS}/streams/index`)).json.generated_at;

      const reader = await e2e.createToken('reader');
      expectError(await e2e.call('POST', `${REPOS}/streams/reparse`, { headers: { authorization: `Bearer ${reader}` } }), 403, 'forbidden');
      expectError(await e2e.call('POST', `${REPOS}/nope/reparse`), 404, 'not_found');

      const answer = await e2e.call('POST', `${REPOS}/streams/reparse`);
      expect(answer.status, answer.text).to.equal(200);
      expect(answer.json).to.include({ repository: 'streams', artifacts: 2, index_error: null });
      expect(answer.json.index_generated_at > before, 'a new index run').to.equal(true);
      const index = await e2e.call('GET', `${REPOS}/streams/index/index.txt`);
      expect(index.text.split('\n').filter(Boolean)).to.have.length(2);
      const listed = (await e2e.call('GET', `${REPOS}/streams/artifacts`)).json.items;
      expect(listed.map((item: { metadata: { properties: Record<string, string> } }) => item.metadata.properties.size)).to.deep.equal(['20', '30']);
    });
  });
}
