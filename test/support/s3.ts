// A real S3-protocol server for tests: s3rver on 127.0.0.1 (port chosen by the system), its
// objects in a temporary folder, reached through the real AWS SDK over HTTP. The SDK takes its
// credentials from the environment, as in production: s3rver's own key pair is set there.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import type { BlobStoreSettings } from '../../supervisor/config.js';

export interface S3Server {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  bucket: string;
  /** The supervisor's environment for a blob store in this bucket under `prefix`. */
  env(prefix?: string): Record<string, string>;
  /** The settings config.ts reads from `env(prefix)`. */
  settings(prefix?: string): Extract<BlobStoreSettings, { kind: 's3' }>;
  close(): Promise<void>;
}

export async function startS3(bucket = 'blobs'): Promise<S3Server> {
  process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';
  const directory = await mkdtemp(path.join(os.tmpdir(), 'pk-s3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket, configs: [] }] });
  const address = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  return {
    endpoint,
    bucket,
    env: (prefix = '') => ({
      BLOB_STORE: `s3://${bucket}${prefix ? `/${prefix}` : ''}`,
      S3_ENDPOINT: endpoint,
      S3_REGION: 'us-east-1',
      S3_FORCE_PATH_STYLE: 'true',
    }),
    settings: (prefix = '') => ({ kind: 's3', bucket, prefix, endpoint, region: 'us-east-1', forcePathStyle: true }),
    async close() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
