/**
 * Blobs in an S3 bucket (AWS, or any S3-compatible service: MinIO, Ceph, R2...), under
 *
 *   [<prefix>/]sha256/<first 2 hex digits>/<64 hex digits>
 *
 * the layout of ./file.ts. An upload is received into a staging file under this node's
 * `<DATA_DIR>/tmp/blobs` while it is hashed (the key is only known at the end), then put
 * with one streamed PutObject: an object appears whole or not at all. Reads stream the
 * object (a range of it when asked); `has` is a HEAD.
 *
 * The client sends and checks checksums only where the API requires them
 * (`WHEN_REQUIRED`): with the SDK's default, a streamed body goes out as aws-chunked with a
 * trailing checksum, which some S3-compatible servers store as the object's bytes.
 */
import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import type { BlobStoreSettings } from '../config.js';
import { BlobNotFound, checkBlobName, Staging, StagingBlobStore, type ByteRange, type StagedBlob } from './blob-store.js';
import { describeError } from '../../protocol/error-text.js';

const CONNECT_TIMEOUT_MS = 10_000;
/** No byte either way for this long on a connection in use. */
const IDLE_TIMEOUT_MS = 60_000;

export type S3Settings = Extract<BlobStoreSettings, { kind: 's3' }>;

export class S3BlobStore extends StagingBlobStore {
  readonly location: string;
  private readonly client: S3Client;

  /** `dataDir`: this node's own folder, for staging. */
  constructor(
    private readonly settings: S3Settings,
    dataDir: string,
  ) {
    super(new Staging(path.join(dataDir, 'tmp', 'blobs')));
    this.location = `s3://${settings.bucket}${settings.prefix ? `/${settings.prefix}` : ''}`;
    this.client = new S3Client({
      endpoint: settings.endpoint,
      // A service of its own (an endpoint) with no region named: the one every S3-compatible server accepts.
      region: settings.region ?? (settings.endpoint ? 'us-east-1' : undefined),
      forcePathStyle: settings.forcePathStyle,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // A service that stops answering fails the call (the SDK retries), rather than holding an upload or download forever.
      requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, socketTimeout: IDLE_TIMEOUT_MS },
    });
  }

  /** Also checks, once, that the bucket is there and these credentials reach it: a start fails with the reason rather than every upload. */
  async prepare(): Promise<void> {
    await this.staging.prepare();
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.settings.bucket }));
    } catch (error) {
      throw new Error(`BLOB_STORE ${this.location}: the bucket cannot be reached: ${describe(error)}`, { cause: error });
    }
  }

  async put(staged: StagedBlob): Promise<void> {
    try {
      if (await this.has(staged.sha256)) return;
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.settings.bucket,
          Key: this.keyOf(staged.sha256),
          Body: createReadStream(staged.file),
          ContentLength: staged.size,
          ContentType: 'application/octet-stream',
        }),
      );
    } finally {
      await this.staging.discard(staged);
    }
  }

  async read(sha256: string, range?: ByteRange): Promise<Readable> {
    let body: Readable;
    let contentRange: string | undefined;
    try {
      const answer = await this.client.send(
        new GetObjectCommand({ Bucket: this.settings.bucket, Key: this.keyOf(sha256), Range: range && `bytes=${range.start}-${range.end}` }),
      );
      body = answer.Body as Readable;
      contentRange = answer.ContentRange;
    } catch (error) {
      if (status(error) === 404) throw new BlobNotFound(sha256);
      if (status(error) === 416) throw new RangeError(`the range ${range?.start}-${range?.end} is not inside the blob ${sha256}`);
      throw error;
    }
    // S3 shortens a range running past the end; the contract refuses it, as the file backend does.
    if (range && contentRange && !contentRange.startsWith(`bytes ${range.start}-${range.end}/`)) {
      body.destroy();
      throw new RangeError(`the range ${range.start}-${range.end} is not inside the blob ${sha256} (${contentRange})`);
    }
    return body;
  }

  async has(sha256: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.settings.bucket, Key: this.keyOf(sha256) }));
      return true;
    } catch (error) {
      if (status(error) === 404) return false;
      throw error;
    }
  }

  async remove(sha256: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: this.keyOf(sha256) }));
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  /** The object key of a blob. */
  keyOf(sha256: string): string {
    checkBlobName(sha256);
    const key = `sha256/${sha256.slice(0, 2)}/${sha256}`;
    return this.settings.prefix ? `${this.settings.prefix}/${key}` : key;
  }
}

function status(error: unknown): number | undefined {
  return error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
}

function describe(error: unknown): string {
  if (error instanceof S3ServiceException) return `${error.name} (HTTP ${error.$metadata.httpStatusCode ?? '?'})${error.message && error.message !== 'UnknownError' ? `: ${error.message}` : ''}`;
  return describeError(error);
}
