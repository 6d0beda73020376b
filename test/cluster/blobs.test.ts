// Blobs and indexes on supervisor processes (`node dist/supervisor/main.js`, the cluster
// harness): two nodes on one PostgreSQL schema sharing a blob folder (file:) or an S3 bucket
// (a real s3rver in this process). The scenarios are in ./blob-scenarios.ts.
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../supervisor/config.js';
import { clusterBlobScenarios, type Cluster as BlobCluster } from './blob-scenarios.js';
import { inspectBlobs, type BlobInspector } from '../support/blob-inspect.js';
import { startS3, type S3Server } from '../support/s3.js';
import { startCluster, type Cluster } from './harness.js';

for (const backend of ['file', 's3'] as const) {
  describe(`cluster: blobs and indexes on two node processes (${backend === 'file' ? 'file:' : 's3://'})`, function () {
    this.timeout(120_000);
    let s3: S3Server | undefined;
    let cluster: Cluster;
    let view: BlobCluster;
    const inspectors: BlobInspector[] = [];

    before(async () => {
      let env: Record<string, string> = {};
      if (backend === 's3') {
        s3 = await startS3();
        env = {
          ...s3.env(`processes-${randomBytes(4).toString('hex')}`),
          AWS_ACCESS_KEY_ID: 'S3RVER',
          AWS_SECRET_ACCESS_KEY: 'S3RVER',
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        };
      }
      cluster = await startCluster(env);
      const nodes = [await cluster.start('a'), await cluster.start('b')];
      for (const node of nodes) {
        // What the node itself read: the harness's BLOB_STORE folder unless the env names a bucket.
        inspectors.push(inspectBlobs(loadConfig({ DATA_DIR: node.dataDir, NODE_ID: node.nodeId, BLOB_STORE: `file:${cluster.blobRoot}`, ...env })));
      }
      view = {
        nodes,
        storedBlobs: () => inspectors[0]!.stored(),
        stagingLeft: async () => (await Promise.all(inspectors.map((inspector) => inspector.staging()))).flat(),
      };
    });
    afterEach(async function () {
      if (this.currentTest?.state === 'failed') await cluster.failed();
    });
    after(async () => {
      for (const inspector of inspectors) inspector.close();
      await cluster?.close();
      await s3?.close();
    });

    clusterBlobScenarios(() => view);
  });
}
