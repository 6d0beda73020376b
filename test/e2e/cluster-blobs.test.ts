// Two supervisors in this process on one PostgreSQL schema, each with its own DATA_DIR and
// NODE_ID, sharing one blob store: a folder (file:, as a shared file system would be) or an
// S3 bucket (a real s3rver). The scenarios are in ./cluster-blobs.ts.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../supervisor/config.js';
import { startSupervisor, type Supervisor } from '../../supervisor/supervisor.js';
import { inspectBlobs, type BlobInspector } from '../support/blob-inspect.js';
import { postgresFixture, type EngineFixture } from '../support/engines.js';
import { startS3, type S3Server } from '../support/s3.js';
import { clusterBlobScenarios, type Cluster } from './cluster-blobs.js';
import { callSupervisor } from '../support/http.js';

for (const backend of ['file', 's3'] as const) {
  describe(`blobs and indexes on two nodes (postgres, ${backend === 'file' ? 'file:' : 's3://'})`, function () {
    this.timeout(120_000);
    let engine: EngineFixture;
    let s3: S3Server | undefined;
    const folders: string[] = [];
    const supervisors: Supervisor[] = [];
    const inspectors: BlobInspector[] = [];
    let cluster: Cluster;

    before(async () => {
      engine = postgresFixture();
      const database = await engine.create();
      const temporary = async (name: string) => {
        const folder = await mkdtemp(path.join(os.tmpdir(), name));
        folders.push(folder);
        return folder;
      };
      let blobEnv: Record<string, string>;
      if (backend === 's3') {
        s3 = await startS3();
        blobEnv = s3.env(`cluster-${randomBytes(4).toString('hex')}`);
      } else {
        blobEnv = { BLOB_STORE: `file:${await temporary('pk-cluster-blobs-')}` };
      }
      const adminToken = randomBytes(24).toString('base64url');
      for (const nodeId of ['node-a', 'node-b']) {
        const config = loadConfig({
          DATA_DIR: await temporary(`pk-cluster-${nodeId}-`),
          PORT: '0',
          HOST: '127.0.0.1',
          ADMIN_TOKEN: adminToken,
          LOG_LEVEL: 'silent',
          NODE_ID: nodeId,
          ...blobEnv,
        });
        config.databaseUrl = database.databaseUrl;
        supervisors.push(await startSupervisor(config));
        inspectors.push(inspectBlobs(config));
      }
      cluster = {
        nodes: supervisors.map((supervisor) => ({ url: supervisor.url, call: (method, target, options) => callSupervisor(supervisor.url, adminToken, method, target, options) })),
        storedBlobs: () => inspectors[0]!.stored(),
        stagingLeft: async () => (await Promise.all(inspectors.map((inspector) => inspector.staging()))).flat(),
      };
    });

    after(async () => {
      for (const inspector of inspectors) inspector.close();
      for (const supervisor of supervisors) await supervisor.close();
      await engine?.dispose();
      await s3?.close();
      for (const folder of folders) await rm(folder, { recursive: true, force: true });
    });

    clusterBlobScenarios(() => cluster);
  });
}
