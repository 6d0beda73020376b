// The blob store contract, run against both backends: a folder (file:) and a real
// S3-protocol server (s3rver, through the real AWS SDK over HTTP). Hashing while streaming,
// the size cap, a source failing mid-stream, atomic puts, deduplication, ranges, removal,
// and 20 MB streamed through and read back with the same SHA-256.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { expect } from 'chai';
import { BlobNotFound, BlobTooLarge, SourceFailed, type BlobStore } from '../../supervisor/blobs/blob-store.js';
import { FileBlobStore } from '../../supervisor/blobs/file.js';
import { S3BlobStore } from '../../supervisor/blobs/s3.js';
import type { Config } from '../../supervisor/config.js';
import { expectRejection } from '../support/assertions.js';
import { inspectBlobs, type BlobInspector } from '../support/blob-inspect.js';
import { startS3, type S3Server } from '../support/s3.js';

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A backend under test, and how to look at it from outside. */
interface Backend extends Omit<BlobInspector, 'close'> {
  blobs: BlobStore;
  dispose(): Promise<void>;
}

const backends: Array<{ name: string; make(): Promise<Backend> }> = [];

backends.push({
  name: 'file:',
  async make() {
    const root = await mkdtemp(path.join(os.tmpdir(), 'pk-blobs-'));
    const blobs = new FileBlobStore(root, 'node-a');
    await blobs.prepare();
    const inspector = inspectBlobs({ blobStore: { kind: 'file', root }, dataDir: root, cluster: { nodeId: 'node-a' } as Config['cluster'] });
    return { blobs, ...inspector, dispose: () => rm(root, { recursive: true, force: true }) };
  },
});

let s3: S3Server | undefined;
backends.push({
  name: 's3://',
  async make() {
    s3 ??= await startS3();
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pk-blobs-s3-'));
    const settings = s3.settings(`test-${randomBytes(4).toString('hex')}`);
    const blobs = new S3BlobStore(settings, dataDir);
    await blobs.prepare();
    const inspector = inspectBlobs({ blobStore: settings, dataDir, cluster: { nodeId: 'node-a' } as Config['cluster'] });
    return {
      blobs,
      ...inspector,
      async dispose() {
        inspector.close();
        await blobs.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  },
});

after(async () => {
  await s3?.close();
  s3 = undefined;
});

for (const backend of backends) {
  describe(`blob store (${backend.name})`, function () {
    this.timeout(60_000);
    let under: Backend;
    let blobs: BlobStore;

    beforeEach(async () => {
      under = await backend.make();
      blobs = under.blobs;
    });
    afterEach(() => under.dispose());

    it('hashes while receiving, puts under the hash, reads back, and leaves no staging file', async () => {
      const chunks = ['hello ', 'blob ', 'world'];
      const staged = await blobs.receive(Readable.from(chunks.map((chunk) => Buffer.from(chunk))), 1024);
      expect(staged).to.include({ sha256: sha256(chunks.join('')), size: 16 });
      expect(await blobs.has(staged.sha256)).to.equal(false);
      await blobs.put(staged);
      expect(await blobs.has(staged.sha256)).to.equal(true);
      expect((await readAll(await blobs.read(staged.sha256))).toString()).to.equal('hello blob world');
      expect(await under.staging()).to.deep.equal([]);
      expect(await under.stored()).to.deep.equal([staged.sha256]);
    });

    it('stores the same bytes once', async () => {
      const one = await blobs.stage(Buffer.from('same'));
      const two = await blobs.stage(Buffer.from('same'));
      await blobs.put(one);
      await blobs.put(two);
      expect(await under.stored()).to.deep.equal([sha256('same')]);
      expect(await under.staging()).to.deep.equal([]);
    });

    it('reads a range, and refuses one outside the blob', async () => {
      const staged = await blobs.stage(Buffer.from('0123456789'));
      await blobs.put(staged);
      expect((await readAll(await blobs.read(staged.sha256, { start: 2, end: 5 }))).toString()).to.equal('2345');
      expect((await readAll(await blobs.read(staged.sha256, { start: 9, end: 9 }))).toString()).to.equal('9');
      await expectRejection(blobs.read(staged.sha256, { start: 5, end: 10 }), RangeError);
      await expectRejection(blobs.read(staged.sha256, { start: 10, end: 12 }), RangeError);
    });

    it('removes a blob (twice is no error), and says BlobNotFound for a blob that is not there', async () => {
      const staged = await blobs.stage(Buffer.from('to remove'));
      await blobs.put(staged);
      await blobs.remove(staged.sha256);
      await blobs.remove(staged.sha256);
      expect(await blobs.has(staged.sha256)).to.equal(false);
      const missing = await expectRejection(blobs.read(staged.sha256), BlobNotFound);
      expect(missing.sha256).to.equal(staged.sha256);
      expect(await under.stored()).to.deep.equal([]);
    });

    it('stops past the limit, drains the source and keeps nothing', async () => {
      const source = Readable.from([Buffer.alloc(600), Buffer.alloc(600), Buffer.alloc(600)]);
      const error = await expectRejection(blobs.receive(source, 1000), BlobTooLarge);
      expect(error.limitBytes).to.equal(1000);
      expect(source.readableEnded).to.equal(true);
      expect(await under.staging()).to.deep.equal([]);
      // Exactly at the limit passes.
      const exact = await blobs.receive(Readable.from([Buffer.alloc(1000)]), 1000);
      expect(exact.size).to.equal(1000);
      await blobs.discard(exact);
      expect(await under.staging()).to.deep.equal([]);
      expect(await under.stored()).to.deep.equal([]);
    });

    it('reports a source that fails mid-stream as SourceFailed, and keeps nothing', async () => {
      const failing = new PassThrough();
      const received = blobs.receive(failing, 10_000_000);
      failing.write(randomBytes(100_000));
      await new Promise((resolve) => setTimeout(resolve, 20));
      failing.destroy(new Error('ECONNRESET'));
      await expectRejection(received, SourceFailed);
      // Closed without an error, before its end: the same.
      const closing = new PassThrough();
      const closed = blobs.receive(closing, 1000);
      closing.write('partial');
      closing.destroy();
      await expectRejection(closed, SourceFailed);
      expect(await under.staging()).to.deep.equal([]);
      expect(await under.stored()).to.deep.equal([]);
    });

    it('streams 20 MB in and out with the same SHA-256', async function () {
      const total = 20 * 1024 * 1024;
      const hash = createHash('sha256');
      let sent = 0;
      const source = new Readable({
        read() {
          if (sent >= total) return void this.push(null);
          const chunk = randomBytes(Math.min(256 * 1024, total - sent));
          sent += chunk.length;
          hash.update(chunk);
          this.push(chunk);
        },
      });
      const staged = await blobs.receive(source, 32 * 1024 * 1024);
      const expected = hash.digest('hex');
      expect(staged).to.include({ sha256: expected, size: total });
      await blobs.put(staged);
      const readBack = createHash('sha256');
      let size = 0;
      for await (const chunk of await blobs.read(expected)) {
        readBack.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
      expect(size).to.equal(total);
      expect(readBack.digest('hex')).to.equal(expected);
      expect(await under.staging()).to.deep.equal([]);
    });

    it('refuses a name that is not a SHA-256', async () => {
      await expectRejection(blobs.read('../../etc/passwd'), TypeError);
      await expectRejection(blobs.has('A'.repeat(64)), TypeError);
      await expectRejection(blobs.remove('x'), TypeError);
    });
  });
}

describe('blob store (file:) on a folder shared by nodes', () => {
  it('keeps the layout of older data folders, and a node starting empties its own staging only', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'pk-blobs-shared-'));
    try {
      // A blob written by an earlier version: <root>/sha256/<2>/<64>.
      const digest = sha256('old data');
      await mkdir(path.join(root, 'sha256', digest.slice(0, 2)), { recursive: true });
      await writeFile(path.join(root, 'sha256', digest.slice(0, 2), digest), 'old data');
      const a = new FileBlobStore(root, 'node-a');
      await a.prepare();
      expect((await readAll(await a.read(digest))).toString()).to.equal('old data');
      const inFlight = await a.receive(Readable.from([Buffer.from('uploading on a')]), 1000);
      const b = new FileBlobStore(root, 'node-b');
      await b.prepare();
      // a's staging file survived b's start, and still puts.
      await a.put(inFlight);
      expect((await readAll(await b.read(inFlight.sha256))).toString()).to.equal('uploading on a');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('blob store (s3://) that cannot be reached', function () {
  this.timeout(60_000);
  it('stops the start with the reason: a bucket that does not exist, a service that does not answer', async () => {
    s3 ??= await startS3();
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pk-blobs-s3-'));
    try {
      const missing = new S3BlobStore({ ...s3.settings(), bucket: 'no-such-bucket' }, dataDir);
      const error = await expectRejection(missing.prepare(), Error);
      expect(error.message).to.match(/^BLOB_STORE s3:\/\/no-such-bucket: the bucket cannot be reached: NotFound/);
      await missing.close();
      // A port nothing listens on (the SDK retries, then gives up).
      const closed = new S3BlobStore({ ...s3.settings(), endpoint: 'http://127.0.0.1:9' }, dataDir);
      expect((await expectRejection(closed.prepare(), Error)).message).to.match(/^BLOB_STORE s3:\/\/blobs: the bucket cannot be reached: .*ECONNREFUSED/);
      await closed.close();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
