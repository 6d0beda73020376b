/**
 * This node's row in `cluster_nodes`, which its per-node rows (plugin states, processes)
 * reference. A minimal stand-in for the node registration of the cluster work (which owns
 * incarnations, `lost` nodes and pruning): replace `registerNode` with it.
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Config } from '../config.js';
import { timestamp } from '../store/clock.js';
import type { Store } from '../store/store.js';

export interface NodeRegistration {
  /** Records that the node is alive (every heartbeat). */
  heartbeat(): Promise<void>;
  /** Marks the node `leaving` (a clean stop). */
  leave(): Promise<void>;
}

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };

export async function registerNode(store: Store, config: Pick<Config, 'cluster'>): Promise<NodeRegistration> {
  const { nodeId, nodeUrl } = config.cluster;
  const now = timestamp();
  await store.upsertClusterNode({ node_id: nodeId, incarnation: randomUUID(), url: nodeUrl, version, state: 'up', started_at: now, last_seen_at: now });
  return {
    heartbeat: () => store.touchClusterNode(nodeId, 'up'),
    leave: () => store.touchClusterNode(nodeId, 'leaving'),
  };
}
