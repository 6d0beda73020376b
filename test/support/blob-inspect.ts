// Looking at a blob store from outside, as an operator would: which blobs are stored
// (files under the folder, objects in the bucket) and which staging files a node left behind.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../../supervisor/config.js';

export interface BlobInspector {
  /** The names of every blob stored, sorted. */
  stored(): Promise<string[]>;
  /** What is in the node's staging folder. */
  staging(): Promise<string[]>;
  close(): void;
}

const BLOB_NAME = /^[0-9a-f]{64}$/;

export function inspectBlobs(config: Pick<Config, 'blobStore' | 'dataDir' | 'cluster'>): BlobInspector {
  const settings = config.blobStore;
  if (settings.kind === 'file') {
    return {
      stored: async () =>
        (await listFolder(path.join(settings.root, 'sha256'), true))
          .map((entry) => path.basename(entry))
          .filter((name) => BLOB_NAME.test(name))
          .sort(),
      staging: () => listFolder(path.join(settings.root, '.staging', config.cluster.nodeId)),
      close: () => undefined,
    };
  }
  const client = new S3Client({ endpoint: settings.endpoint, region: settings.region, forcePathStyle: settings.forcePathStyle });
  const prefix = settings.prefix ? `${settings.prefix}/sha256/` : 'sha256/';
  return {
    async stored() {
      const names: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: settings.bucket, Prefix: prefix, ContinuationToken: token }));
        for (const object of page.Contents ?? []) {
          // Every key is <prefix>sha256/<2 hex>/<64 hex>: anything else is a bug.
          const name = path.posix.basename(object.Key!);
          if (object.Key !== `${prefix}${name.slice(0, 2)}/${name}` || !BLOB_NAME.test(name)) throw new Error(`unexpected object key ${object.Key}`);
          names.push(name);
        }
        token = page.NextContinuationToken;
      } while (token);
      return names.sort();
    },
    staging: () => listFolder(path.join(config.dataDir, 'tmp', 'blobs')),
    close: () => client.destroy(),
  };
}

async function listFolder(folder: string, recursive = false): Promise<string[]> {
  return readdir(folder, { recursive }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
}
