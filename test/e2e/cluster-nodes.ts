// Several supervisors sharing one PostgreSQL schema, started in this test process (each with
// its own DATA_DIR and NODE_ID). The cluster tests only see `ClusterNode`s, so the same
// bodies run over nodes started another way (child processes).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../supervisor/config.js';
import { startSupervisor, type Supervisor } from '../../supervisor/supervisor.js';
import type { EngineFixture } from '../support/engines.js';
import { callSupervisor, type Answer, type CallOptions } from '../support/http.js';

export interface ClusterNode {
  readonly id: string;
  readonly url: string;
  readonly dataDir: string;
  call(method: string, target: string, options?: CallOptions): Promise<Answer>;
  /** Stops the node cleanly (SIGTERM for a node in a process of its own). */
  stop(): Promise<void>;
}

export interface InProcessCluster {
  readonly nodes: ClusterNode[];
  /** The database every node uses. */
  readonly databaseUrl: string;
  /** The one folder local installs may read (PLUGINS_LOCAL_ROOTS), the same on every node. */
  readonly localRoot: string;
  close(): Promise<void>;
}

/** `count` nodes named node-a, node-b...; `env`: more settings over the defaults. */
export async function startInProcessCluster(engine: EngineFixture, count: number, env: Record<string, string> = {}): Promise<InProcessCluster> {
  const database = await engine.create();
  const localRoot = await mkdtemp(path.join(os.tmpdir(), 'pk-cluster-local-'));
  const adminToken = randomBytes(24).toString('base64url');
  const supervisors = new Set<Supervisor>();
  const stop = async (supervisor: Supervisor) => {
    if (supervisors.delete(supervisor)) await supervisor.close();
  };
  const dataDirs: string[] = [];
  const nodes: ClusterNode[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const id = `node-${String.fromCharCode(97 + i)}`;
      const dataDir = await mkdtemp(path.join(os.tmpdir(), `pk-cluster-${id}-`));
      dataDirs.push(dataDir);
      const config = loadConfig({
        DATA_DIR: dataDir,
        PORT: '0',
        HOST: '127.0.0.1',
        ADMIN_TOKEN: adminToken,
        PLUGINS_LOCAL_ROOTS: localRoot,
        LOG_LEVEL: 'silent',
        NODE_ID: id,
        ...env,
      });
      config.databaseUrl = database.databaseUrl;
      const supervisor = await startSupervisor(config);
      supervisors.add(supervisor);
      nodes.push({
        id,
        url: supervisor.url,
        dataDir,
        call: (method, target, options) => callSupervisor(supervisor.url, adminToken, method, target, options),
        stop: () => stop(supervisor),
      });
    }
  } catch (error) {
    await Promise.all([...supervisors].map(stop));
    throw error;
  }
  return {
    nodes,
    databaseUrl: database.databaseUrl!,
    localRoot,
    async close() {
      await Promise.all([...supervisors].map(stop));
      await Promise.all([localRoot, ...dataDirs].map((dir) => rm(dir, { recursive: true, force: true })));
    },
  };
}
