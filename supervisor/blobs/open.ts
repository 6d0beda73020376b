/** The one way to get a BlobStore: the backend the configuration names (BLOB_STORE). */
import type { Config } from '../config.js';
import type { BlobStore } from './blob-store.js';
import { FileBlobStore } from './file.js';
import { S3BlobStore } from './s3.js';

/** Prepared: folders made, this node's staging emptied, an S3 bucket reached. */
export async function openBlobStore(config: Pick<Config, 'blobStore' | 'dataDir'> & { cluster: Pick<Config['cluster'], 'nodeId'> }): Promise<BlobStore> {
  const settings = config.blobStore;
  const blobs = settings.kind === 'file' ? new FileBlobStore(settings.root, config.cluster.nodeId) : new S3BlobStore(settings, config.dataDir);
  try {
    await blobs.prepare();
  } catch (error) {
    await blobs.close();
    throw error;
  }
  return blobs;
}
