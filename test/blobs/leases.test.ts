// Blob removal against pins, with two "nodes" (two stores on one PostgreSQL schema, one
// blob folder): a removal in progress holds the blob's row lock, so a pin of the same blob
// on the other node waits for it and puts the bytes again after it; a pinned blob is never
// removed; a lapsed pin (its node died) no longer keeps a blob.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { FileBlobStore } from '../../supervisor/blobs/file.js';
import { BlobLeases } from '../../supervisor/blobs/leases.js';
import { sha256Hex } from '../../supervisor/sha256.js';
import { openStore } from '../../supervisor/store/open.js';
import type { Store } from '../../supervisor/store/store.js';
import { postgresFixture, type EngineFixture } from '../support/engines.js';

describe('blob leases across nodes (postgres)', function () {
  this.timeout(30_000);
  let engine: EngineFixture;
  let root: string;
  let storeA: Store;
  let storeB: Store;

  before(async () => {
    engine = postgresFixture();
    const config = await engine.create();
    storeA = await openStore(config);
    storeB = await openStore(config);
    root = await mkdtemp(path.join(os.tmpdir(), 'pk-leases-'));
  });
  after(async () => {
    await storeA?.close();
    await storeB?.close();
    await engine?.dispose();
    await rm(root, { recursive: true, force: true });
  });

  const node = async (store: Store, nodeId: string, pinMs?: number) => {
    const blobs = new FileBlobStore(root, nodeId);
    await blobs.prepare();
    return { blobs, leases: new BlobLeases({ store, blobs, nodeId, pinMs }) };
  };

  it('never removes a pinned blob; removes it once released and named by nothing', async () => {
    const a = await node(storeA, 'node-a');
    const b = await node(storeB, 'node-b');
    const staged = await a.blobs.stage(Buffer.from(`pinned ${randomUUID()}`));
    const release = await a.leases.commit(staged);
    expect(await b.leases.removeIfUnused(staged.sha256)).to.equal(false);
    expect(await b.blobs.has(staged.sha256)).to.equal(true);
    await release();
    await release();
    expect(await b.leases.removeIfUnused(staged.sha256)).to.equal(true);
    expect(await a.blobs.has(staged.sha256)).to.equal(false);
  });

  it('lets a pin taken during a removal wait for it, then put the bytes again', async () => {
    const a = await node(storeA, 'node-a');
    const b = await node(storeB, 'node-b');
    const bytes = Buffer.from(`contested ${randomUUID()}`);
    await (await a.leases.commit(await a.blobs.stage(bytes)))();
    // Node B's removal is slow to delete the bytes (a remote bucket): it holds the row lock meanwhile.
    let letRemovalFinish!: () => void;
    const slow = new Promise<void>((resolve) => (letRemovalFinish = resolve));
    const remove = b.blobs.remove.bind(b.blobs);
    b.blobs.remove = async (sha256) => {
      await slow;
      await remove(sha256);
    };
    const digest = sha256Hex(bytes);
    const removal = b.leases.removeIfUnused(digest);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Node A re-uploads the same bytes: its pin waits for the removal's lock.
    let committed = false;
    const recommit = a.leases.commit(await a.blobs.stage(bytes)).then((release) => {
      committed = true;
      return release;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(committed).to.equal(false);
    letRemovalFinish();
    expect(await removal).to.equal(true);
    const release = await recommit;
    // The bytes are there again, for the rows node A now writes.
    expect(await a.blobs.has(digest)).to.equal(true);
    expect(await b.leases.removeIfUnused(digest)).to.equal(false);
    await release();
    expect(await b.leases.removeIfUnused(digest)).to.equal(true);
  });

  it('sweeps a blob whose pin lapsed (its node died before writing a row or releasing it), and only that', async () => {
    // Long enough that the first sweep below surely runs before it lapses, even on a loaded machine.
    const pinMs = 1500;
    const a = await node(storeA, 'node-a', pinMs);
    const b = await node(storeB, 'node-b');
    const staged = await a.blobs.stage(Buffer.from(`lapsing ${randomUUID()}`));
    await a.leases.commit(staged);
    // Another node, whose pins last.
    const c = await node(storeA, 'node-c');
    const alive = await c.blobs.stage(Buffer.from(`still pinned ${randomUUID()}`));
    const release = await c.leases.commit(alive);
    expect(await b.leases.sweep()).to.equal(0);
    await new Promise((resolve) => setTimeout(resolve, pinMs + 100));
    expect(await b.leases.sweep()).to.equal(1);
    expect(await b.blobs.has(staged.sha256)).to.equal(false);
    expect(await b.blobs.has(alive.sha256)).to.equal(true);
    await release();
    expect(await b.leases.sweep()).to.equal(1);
    expect(await b.blobs.has(alive.sha256)).to.equal(false);
  });
});
