// The content-addressed blob store on a real file system: hashing while streaming, the size
// cap, atomic commits, deduplication, and removal that respects pins and references.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { expect } from 'chai';
import { BlobStore, BlobTooLarge, SourceFailed } from '../../supervisor/blobs/blob-store.js';
import { expectRejection } from '../support/assertions.js';

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

describe('blob store', () => {
  let dataDir: string;
  let blobs: BlobStore;
  const staging = () => readdir(path.join(dataDir, 'tmp', 'blobs'));

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'pk-blobs-'));
    blobs = new BlobStore(dataDir);
    await blobs.prepare();
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it('hashes while receiving, and commits under the hash', async () => {
    const chunks = ['hello ', 'blob ', 'world'];
    const staged = await blobs.receive(Readable.from(chunks.map((chunk) => Buffer.from(chunk))), 1024);
    expect(staged).to.include({ sha256: sha256(chunks.join('')), size: 16 });
    expect(await blobs.has(staged.sha256)).to.equal(false);
    const release = await blobs.commit(staged);
    release();
    expect(await readFile(blobs.pathOf(staged.sha256), 'utf8')).to.equal('hello blob world');
    expect(await staging()).to.deep.equal([]);
  });

  it('stores the same bytes once', async () => {
    const one = await blobs.stage(Buffer.from('same'));
    const two = await blobs.stage(Buffer.from('same'));
    (await blobs.commit(one))();
    (await blobs.commit(two))();
    const files = await readdir(path.join(dataDir, 'blobs'), { recursive: true });
    expect(files.filter((file) => file.endsWith(sha256('same')))).to.have.length(1);
    expect(await staging()).to.deep.equal([]);
  });

  it('stops past the limit, drains the source and keeps nothing', async () => {
    const source = Readable.from([Buffer.alloc(600), Buffer.alloc(600), Buffer.alloc(600)]);
    const error = await expectRejection(blobs.receive(source, 1000), BlobTooLarge);
    expect(error.limitBytes).to.equal(1000);
    expect(await staging()).to.deep.equal([]);
    // Exactly at the limit passes.
    expect((await blobs.receive(Readable.from([Buffer.alloc(1000)]), 1000)).size).to.equal(1000);
  });

  it('reports a source that fails or closes early as SourceFailed, and keeps nothing', async () => {
    const failing = new PassThrough();
    const received = blobs.receive(failing, 1000);
    failing.write('partial');
    failing.destroy(new Error('ECONNRESET'));
    await expectRejection(received, SourceFailed);
    expect(await staging()).to.deep.equal([]);
  });

  it('removes a blob only when nothing names it and no commit holds it', async () => {
    const staged = await blobs.stage(Buffer.from('pinned'));
    const release = await blobs.commit(staged);
    await blobs.removeIfUnused(staged.sha256, async () => false);
    expect(await blobs.has(staged.sha256)).to.equal(true);
    release();
    await blobs.removeIfUnused(staged.sha256, async () => true);
    expect(await blobs.has(staged.sha256)).to.equal(true);
    await blobs.removeIfUnused(staged.sha256, async () => false);
    expect(await blobs.has(staged.sha256)).to.equal(false);
  });

  it('refuses a name that is not a SHA-256', () => {
    expect(() => blobs.pathOf('../../etc/passwd')).to.throw(TypeError);
  });
});
