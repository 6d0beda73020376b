// Index regeneration against a real store and blob store, with a handler whose
// generate-index the test controls: runs are serialised per repository, a burst of requests
// costs one more run, and a failed run keeps the previous index and says why.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import { FileBlobStore } from '../../../supervisor/blobs/file.js';
import { BlobLeases } from '../../../supervisor/blobs/leases.js';
import type { ArtifactMetadata, IndexFile } from '../../../supervisor/formats/handler.js';
import { CoreFormatHandler } from '../../../supervisor/formats/core/base.js';
import { RoutingTable } from '../../../supervisor/formats/routing.js';
import { ArtifactInvalid, PluginTimeout } from '../../../supervisor/runtime/errors.js';
import { IndexBuilder, indexContentType } from '../../../supervisor/services/artifacts/indexes.js';
import { openStore } from '../../../supervisor/store/open.js';
import type { RepositoryRow, Store } from '../../../supervisor/store/store.js';
import type { StoreConfig } from '../../support/engines.js';
import { postgresFixture, sqliteFixture, type EngineFixture } from '../../support/engines.js';

/** A handler whose index is "every path, one per line", and which holds each run until released when asked to. */
class ControlledHandler extends CoreFormatHandler {
  readonly formatKey = 'controlled';
  runs: ArtifactMetadata[][] = [];
  inFlight = 0;
  maxInFlight = 0;
  gate: Promise<void> | undefined;
  result: (artifacts: ArtifactMetadata[]) => IndexFile[] | null = (artifacts) => [{ path: 'list.txt', content: Buffer.from(artifacts.map((a) => a.path).join('\n')) }];

  constructor() {
    super({ generatesIndex: true });
  }

  protected async validateBytes(): Promise<void> {}

  /** What each parse-metadata call was given, as text. */
  parsed: string[] = [];

  protected async parseBytes(path: string, data: Uint8Array): Promise<ArtifactMetadata> {
    this.parsed.push(Buffer.from(data).toString());
    return { path, version: '2.0', contentType: 'text/x-parsed', sizeBytes: data.byteLength, checksumSha256: null, properties: [['seen', Buffer.from(data).toString()]] };
  }

  async generateIndex(artifacts: ArtifactMetadata[]): Promise<IndexFile[] | null> {
    this.runs.push(artifacts);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await this.gate;
      return this.result(artifacts);
    } finally {
      this.inFlight -= 1;
    }
  }
}

for (const makeEngine of [sqliteFixture, postgresFixture]) describe(`index regeneration (${makeEngine().engine})`, () => {
  let engine: EngineFixture;
  let store: Store;
  let blobs: FileBlobStore;
  let routing: RoutingTable;
  let handler: ControlledHandler;
  let builder: IndexBuilder;
  let repository: RepositoryRow;
  let config: StoreConfig;

  const addArtifact = (path: string) =>
    store.insertArtifact({ id: randomUUID(), repository_id: repository.id, path, size_bytes: 1, checksum_sha256: 'b'.repeat(64), version: null, content_type: 'text/plain', metadata: {} });
  const indexText = async (path: string) => {
    const file = await store.getIndexFile(repository.id, path);
    return file && (await readFile(blobs.pathOf(file.checksum_sha256), 'utf8'));
  };

  beforeEach(async () => {
    engine = makeEngine();
    config = await engine.create();
    store = await openStore({ ...config });
    blobs = new FileBlobStore(path.join(config.dataDir, 'blobs'), 'node-a');
    await blobs.prepare();
    handler = new ControlledHandler();
    routing = new RoutingTable();
    routing.addCore(handler, true);
    builder = new IndexBuilder({ store, blobs, leases: new BlobLeases({ store, blobs, nodeId: 'node-a' }), routing, logger: pino({ level: 'silent' }), baseUrl: () => 'http://localhost:8080' });
    repository = await store.insertRepository({ id: randomUUID(), key: 'repo', format: 'controlled', description: null, public: false });
  });

  afterEach(async () => {
    await store.close();
    await engine.dispose();
  });

  it('parses again, before generating the index, the artifacts another handler parsed, and hands generate-index the context on the base URL', async () => {
    const staged = await blobs.stage(Buffer.from('hello'));
    await blobs.put(staged);
    const stored = (parsedBy: string | null) =>
      store.insertArtifact({
        id: randomUUID(), repository_id: repository.id, path: `by-${parsedBy ?? 'none'}`, size_bytes: 5, checksum_sha256: staged.sha256,
        version: '1.0', content_type: 'text/plain', metadata: { version: '1.0' }, parsed_by: parsedBy,
      });
    await stored('wasm:an-older-plugin');
    await stored(null);
    await stored(handler.parserId);
    await builder.refresh(repository.id);
    // Only the two parsed by another handler (or by none known) were parsed again, from their blob.
    expect(handler.parsed).to.deep.equal(['hello', 'hello']);
    const rows = await store.listArtifacts(repository.id, {});
    expect(rows.map((row) => [row.path, row.parsed_by, row.version, row.content_type])).to.deep.equal([
      ['by-core:controlled@' + handler.parserId.split('@')[1], handler.parserId, '1.0', 'text/plain'],
      ['by-none', handler.parserId, '2.0', 'text/x-parsed'],
      ['by-wasm:an-older-plugin', handler.parserId, '2.0', 'text/x-parsed'],
    ]);
    expect(rows[1]!.metadata.properties).to.deep.equal({ seen: 'hello' });
    // generate-index saw the new properties.
    expect(handler.runs.at(-1)!.find((a) => a.path === 'by-none')!.properties).to.deep.equal([['seen', 'hello']]);
    expect(await store.getIndexBaseUrl(repository.id)).to.equal('http://localhost:8080');

    // A reparse asked for: every row again; refreshStale finds the repository by itself.
    handler.parsed = [];
    expect(await store.forgetArtifactParses(repository.id)).to.equal(3);
    await builder.refreshStale();
    while (await store.hasArtifactsNotParsedBy(repository.id, handler.parserId)) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(handler.parsed).to.have.length(3);
  });

  it('runs one at a time per repository, and a burst waits for one shared run that sees every artifact', async () => {
    let release!: () => void;
    handler.gate = new Promise((resolve) => (release = resolve));
    await addArtifact('a');
    const first = builder.refresh(repository.id);
    // The first run is under way (held at the gate) before anything else arrives.
    while (handler.runs.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    // While the first run is held, five more artifacts arrive, each asking for a run.
    const burst = [];
    for (const path of ['b', 'c', 'd', 'e', 'f']) {
      await addArtifact(path);
      burst.push(builder.refresh(repository.id));
    }
    release();
    handler.gate = undefined;
    await Promise.all([first, ...burst]);
    expect(handler.runs.map((run) => run.map((a) => a.path))).to.deep.equal([['a'], ['a', 'b', 'c', 'd', 'e', 'f']]);
    expect(handler.maxInFlight).to.equal(1);
    expect(await indexText('list.txt')).to.equal('a\nb\nc\nd\ne\nf');
    const row = (await store.getRepositoryById(repository.id))!;
    expect(row.index_error).to.equal(null);
    expect(row.index_generated_at).to.be.a('string');
    // Idle again: the next request starts a run of its own at once.
    await builder.refresh(repository.id);
    expect(handler.runs).to.have.length(3);
  });

  // Nodes share a database on PostgreSQL only (SQLite is one supervisor per data directory).
  if (makeEngine === postgresFixture) it('serialises runs across nodes sharing the database, and serves a request with a run started after it on either node', async function () {
    // Node B: its own store connections, blob staging and builder; the same handler, to see every run of both.
    const otherStore = await openStore({ ...config });
    try {
      const otherBlobs = new FileBlobStore(path.join(config.dataDir, 'blobs'), 'node-b');
      await otherBlobs.prepare();
      const other = new IndexBuilder({ store: otherStore, blobs: otherBlobs, leases: new BlobLeases({ store: otherStore, blobs: otherBlobs, nodeId: 'node-b' }), routing, logger: pino({ level: 'silent' }), baseUrl: () => 'http://localhost:8080' });
      let release!: () => void;
      handler.gate = new Promise((resolve) => (release = resolve));
      await addArtifact('a');
      const first = builder.refresh(repository.id);
      while (handler.inFlight === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      // While node A's run is held, artifacts arrive on both nodes.
      const burst = [];
      for (const [index, path] of ['b', 'c', 'd', 'e'].entries()) {
        await addArtifact(path);
        burst.push((index % 2 === 0 ? other : builder).refresh(repository.id));
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(handler.runs).to.have.length(1);
      release();
      handler.gate = undefined;
      await Promise.all([first, ...burst]);
      expect(handler.maxInFlight).to.equal(1);
      // One run for the first request, one shared by the burst, whichever node ran it.
      expect(handler.runs.map((run) => run.map((a) => a.path))).to.deep.equal([['a'], ['a', 'b', 'c', 'd', 'e']]);
      expect(await indexText('list.txt')).to.equal('a\nb\nc\nd\ne');
      expect(await store.getIndexGenerations(repository.id)).to.deep.equal({ requested: 5, built: 5 });
    } finally {
      await otherStore.close();
    }
  });

  it('runs the indexes of more repositories at once than the database pool has connections', async () => {
    const repositories = [repository];
    for (let index = 0; index < 15; index += 1) {
      repositories.push(await store.insertRepository({ id: randomUUID(), key: `many-${index}`, format: 'controlled', description: null, public: false }));
    }
    let release!: () => void;
    handler.gate = new Promise((resolve) => (release = resolve));
    const refreshed = repositories.map((row) => builder.refresh(row.id));
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    handler.gate = undefined;
    await Promise.all(refreshed);
    for (const row of repositories) expect((await store.getIndexGenerations(row.id))!.built, row.key).to.equal(1);
  });

  it('keeps the previous index and records why when a run fails, and clears the error on the next success', async () => {
    await addArtifact('a');
    await builder.refresh(repository.id);
    const good = (await store.getRepositoryById(repository.id))!;

    handler.result = () => {
      throw new PluginTimeout(5000);
    };
    await builder.refresh(repository.id);
    let row = (await store.getRepositoryById(repository.id))!;
    expect(row.index_error).to.match(/^generate-index failed: the plugin call ran past its time limit of 5000 ms/);
    expect(row.index_generated_at).to.equal(good.index_generated_at);
    expect(await indexText('list.txt')).to.equal('a');

    handler.result = () => {
      throw new ArtifactInvalid('cannot index');
    };
    await builder.refresh(repository.id);
    expect((await store.getRepositoryById(repository.id))!.index_error).to.equal('generate-index failed: cannot index');

    for (const [files, problem] of [
      [[{ path: '../escape', content: Buffer.from('x') }], /index file 0 path "\.\.\/escape" is refused: .*"\.\." segment/],
      [[{ path: '/abs', content: Buffer.from('x') }], /absolute/],
      [
        [
          { path: 'a/b', content: Buffer.from('x') },
          { path: 'a//b', content: Buffer.from('y') },
        ],
        /index file 1 path "a\/b" names a file already listed/,
      ],
    ] as const) {
      handler.result = () => [...files];
      await builder.refresh(repository.id);
      expect((await store.getRepositoryById(repository.id))!.index_error).to.match(problem);
      expect(await indexText('list.txt')).to.equal('a');
    }

    handler.result = (artifacts) => [{ path: 'index.json', content: Buffer.from(JSON.stringify(artifacts.map((a) => a.path))) }];
    await builder.refresh(repository.id);
    row = (await store.getRepositoryById(repository.id))!;
    expect(row.index_error).to.equal(null);
    expect((await store.listIndexFiles(repository.id)).map((file) => file.path)).to.deep.equal(['index.json']);
    // The old file's blob is gone with it.
    expect(await blobs.has((await store.getIndexFile(repository.id, 'index.json'))!.checksum_sha256)).to.equal(true);
    expect(await indexText('list.txt')).to.equal(undefined);
  });

  it('records an unavailable format without touching the index', async () => {
    await addArtifact('a');
    await builder.refresh(repository.id);
    const other = await store.insertRepository({ id: randomUUID(), key: 'orphan', format: 'gone', description: null, public: false });
    await builder.refresh(other.id);
    expect((await store.getRepositoryById(other.id))!.index_error).to.match(/no enabled handler serves the gone format/);
    // A repository deleted meanwhile is simply skipped.
    await builder.refresh(randomUUID());
  });

  it('types index files by extension, then by content', () => {
    expect(indexContentType('maven-metadata.xml', Buffer.from('<x/>'))).to.match(/xml/);
    expect(indexContentType('simple/index.html', Buffer.from('<html>'))).to.equal('text/html; charset=utf-8');
    expect(indexContentType('left-pad', Buffer.from('{"name":"left-pad"}'))).to.equal('application/json; charset=utf-8');
    expect(indexContentType('Packages', Buffer.from('Package: x\n'))).to.equal('text/plain; charset=utf-8');
    expect(indexContentType('blob', Buffer.from([0xff, 0xfe, 0x00]))).to.equal('application/octet-stream');
    expect(indexContentType('odd', Buffer.from('{not json'))).to.equal('text/plain; charset=utf-8');
  });
});
