// What one /ext request costs the server: the repository's artifact list is read and
// encoded once per repository generation, on every node (the generation lives in the
// database and moves with each artifact write), and a plugin's line of native calls is
// bounded (503 with Retry-After past it). A real store on both engines, two "nodes" (two
// NativeProtocol services, each with its own store connection), a handler the test holds.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { decodeArtifacts } from '../../../protocol/methods.js';
import { CoreFormatHandler } from '../../../supervisor/formats/core/base.js';
import type { ArtifactList, ArtifactMetadata, HttpResponse } from '../../../supervisor/formats/handler.js';
import { RoutingTable } from '../../../supervisor/formats/routing.js';
import { NATIVE_CALLS_PER_INSTANCE, NativeProtocol } from '../../../supervisor/services/artifacts/native.js';
import { Busy } from '../../../supervisor/services/errors.js';
import { openStore } from '../../../supervisor/store/open.js';
import type { RepositoryRow, Store } from '../../../supervisor/store/store.js';
import { postgresFixture, sqliteFixture, type EngineFixture } from '../../support/engines.js';
import { expectRejection } from '../../support/assertions.js';

/** Serves a native protocol: answers with the paths it was handed; holds each call at `gate` when set. */
class ListingHandler extends CoreFormatHandler {
  readonly formatKey = 'listing';
  override readonly capabilities = { parse_metadata: true, validate_artifact: true, generate_index: false, handle_request: true };
  readonly limits = { memoryMb: 64, timeoutMs: 5000, instances: 1 };
  gate: Promise<void> | undefined;
  received: ArtifactList[] = [];

  constructor() {
    super({ generatesIndex: false });
  }

  protected async validateBytes(): Promise<void> {}
  protected async parseBytes(path: string): Promise<ArtifactMetadata> {
    return { path, version: null, contentType: 'text/plain', sizeBytes: 0, checksumSha256: null };
  }
  async generateIndex(): Promise<null> {
    return null;
  }
  override async handleRequest(...args: unknown[]): Promise<HttpResponse> {
    const artifacts = args[2] as ArtifactList;
    this.received.push(artifacts);
    await this.gate;
    const paths = decodeArtifacts(artifacts).map((artifact) => artifact.path);
    return { status: 200, headers: [], body: Buffer.from(paths.join('\n')) };
  }
}

for (const makeEngine of [sqliteFixture, postgresFixture]) describe(`native protocol cost (${makeEngine().engine})`, () => {
  let engine: EngineFixture;
  let storeA: Store;
  let storeB: Store;
  let handler: ListingHandler;
  let nodeA: NativeProtocol;
  let nodeB: NativeProtocol;
  let repository: RepositoryRow;
  let listings: number;

  const request = { method: 'GET', path: '/', query: '', headers: [], readBody: async () => new Uint8Array(0) };
  const ask = async (node: NativeProtocol) => Buffer.from((await node.handle('listing', 'repo', request, 'http://127.0.0.1')).body).toString();
  const artifact = (path: string) => ({ id: randomUUID(), repository_id: repository.id, path, size_bytes: 1, checksum_sha256: 'b'.repeat(64), version: null, content_type: 'text/plain', metadata: {} });

  beforeEach(async () => {
    engine = makeEngine();
    const config = await engine.create();
    storeA = await openStore({ ...config });
    storeB = await openStore({ ...config });
    handler = new ListingHandler();
    const routing = new RoutingTable();
    routing.addCore(handler, true);
    // Node A's reads of the artifact list are counted.
    listings = 0;
    const list = storeA.listArtifacts.bind(storeA);
    storeA.listArtifacts = (...args) => (listings++, list(...args));
    nodeA = new NativeProtocol({ store: storeA, routing });
    nodeB = new NativeProtocol({ store: storeB, routing });
    repository = await storeA.insertRepository({ id: randomUUID(), key: 'repo', format: 'listing', description: null, public: true });
    await storeA.transaction(async (tx) => {
      for (const path of ['a', 'b', 'c']) await tx.insertArtifact(artifact(path));
    });
  });

  afterEach(async () => {
    await storeA.close();
    await storeB.close();
    await engine.dispose();
  });

  it('reads and encodes the list once per generation, shared by concurrent calls, and follows writes made by another node', async () => {
    const answers = await Promise.all(Array.from({ length: NATIVE_CALLS_PER_INSTANCE }, () => ask(nodeA)));
    expect(answers).to.deep.equal(Array(NATIVE_CALLS_PER_INSTANCE).fill('a\nb\nc'));
    expect(await ask(nodeA)).to.equal('a\nb\nc');
    expect(listings, 'artifact list reads for 9 calls').to.equal(1);
    // One encoded list, the same bytes for every call.
    expect(handler.received.every((list) => list instanceof Uint8Array && list === handler.received[0])).to.equal(true);

    // Another node adds, replaces and deletes: node A sees each at its next call.
    await storeB.transaction((tx) => tx.insertArtifact(artifact('d')));
    expect(await ask(nodeA)).to.equal('a\nb\nc\nd');
    await storeB.transaction((tx) => tx.replaceArtifact({ ...artifact('d'), version: '2' }));
    expect(await ask(nodeA)).to.equal('a\nb\nc\nd');
    expect(listings).to.equal(3);
    await storeB.transaction((tx) => tx.deleteArtifact(repository.id, 'a'));
    expect(await ask(nodeA)).to.equal('b\nc\nd');
    expect(await ask(nodeB)).to.equal('b\nc\nd');
    expect(listings).to.equal(4);
  });

  it(`bounds the calls in line per plugin process at ${NATIVE_CALLS_PER_INSTANCE}: past that 503 plugin_busy with Retry-After, before the body is read`, async () => {
    let release!: () => void;
    handler.gate = new Promise((resolve) => (release = resolve));
    const held = Array.from({ length: NATIVE_CALLS_PER_INSTANCE }, () => ask(nodeA));
    while (handler.received.length < NATIVE_CALLS_PER_INSTANCE) await new Promise((resolve) => setTimeout(resolve, 5));
    let bodyRead = false;
    const refused = await expectRejection(nodeA.handle('listing', 'repo', { ...request, readBody: async () => ((bodyRead = true), new Uint8Array(0)) }, 'http://x'), Busy);
    expect(refused.status).to.equal(503);
    expect(refused.code).to.equal('plugin_busy');
    expect(refused.retryAfterSeconds).to.equal(1);
    expect(bodyRead).to.equal(false);
    release();
    expect(await Promise.all(held)).to.deep.equal(Array(NATIVE_CALLS_PER_INSTANCE).fill('a\nb\nc'));
    // The line emptied: calls are admitted again.
    expect(await ask(nodeA)).to.equal('a\nb\nc');
  });

  it('moves the generation with every artifact write and re-parse, and answers undefined for no repository', async () => {
    const before = (await storeA.artifactsGeneration(repository.id))!;
    await storeA.transaction((tx) => tx.insertArtifact(artifact('x')));
    await storeA.transaction((tx) => tx.replaceArtifact(artifact('x')));
    const y = artifact('y');
    await storeA.transaction((tx) => tx.insertArtifact(y));
    // A re-parse changes what the list shows; one of a row replaced meanwhile changes nothing.
    expect(await storeA.updateArtifactParse(y.id, y.checksum_sha256, { version: '2', content_type: 'text/plain', metadata: {}, parsed_by: 'core:listing' })).to.equal(true);
    expect(await storeA.updateArtifactParse(y.id, 'c'.repeat(64), { version: '3', content_type: 'text/plain', metadata: {}, parsed_by: 'core:listing' })).to.equal(false);
    await storeA.transaction((tx) => tx.deleteArtifact(repository.id, 'x'));
    expect(await storeA.artifactsGeneration(repository.id)).to.equal(before + 5);
    expect(await storeA.artifactsGeneration(randomUUID())).to.equal(undefined);
  });
});
