/**
 * This supervisor as one node among those sharing the database (docs/cluster.md, "Nodes").
 *
 * - `join()` writes the node's row (a new incarnation UUID each start) and heartbeats every
 *   `heartbeatMs`. A row already there under the same NODE_ID is taken over at once: a
 *   restart after SIGKILL must not wait for the old incarnation to time out.
 * - A heartbeat that finds the row held by another incarnation means two live processes
 *   share one NODE_ID: the older one (this one) reports it through `onFatal` and stops
 *   beating; main.ts exits.
 * - Every time is the database's clock (`Db.clock`): `last_seen_at` is written by it and
 *   compared with it, so nodes whose own clocks disagree still agree on who is lost.
 *   `lost` is derived (an `up` row not seen for `nodeTimeoutMs`), never stored.
 * - Any live node deletes the rows of nodes not seen for `pruneAfterMs` (their per-node
 *   runtime rows go with them, ON DELETE CASCADE).
 * - `leave()` (SIGTERM, `close()`) records `leaving` and stops the heartbeat.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { ClusterNodeRow, Store } from '../store/store.js';
import { describeError } from '../../protocol/error-text.js';

export const NODE_STATES = ['up', 'lost', 'leaving'] as const;
export type NodeState = (typeof NODE_STATES)[number];

/** Plugin processes of one node, by their state. */
export interface NodePluginCounts {
  running: number;
  error: number;
}

/** A node as `GET /api/v1/cluster/nodes` shows it. */
export interface NodeView {
  node_id: string;
  url: string | null;
  state: NodeState;
  started_at: string;
  last_seen_at: string;
  version: string;
  plugins: NodePluginCounts;
}

/** `checks.cluster` of `/health`. */
export interface ClusterHealth {
  /** This node's own heartbeat is current (the others can see it is up). */
  ok: boolean;
  nodes_up: number;
  nodes_lost: number;
}

export interface NodeMembershipOptions {
  store: Store;
  settings: Config['cluster'];
  version: string;
  logger: Logger;
  /** Two processes share this node's id; this one must stop (main.ts exits with 1). */
  onFatal(error: Error): void;
}

export class NodeMembership {
  /** New at every start: how the row tells this process from an earlier or a rival one. */
  readonly incarnation = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private beating = false;
  /** The heartbeat under way, which stopping waits for. */
  private inFlight: Promise<void> | undefined;
  /** performance.now() of the last heartbeat the database took: this process's own freshness, on its own clock. */
  private lastBeatAt: number | undefined;

  constructor(private readonly options: NodeMembershipOptions) {}

  get nodeId(): string {
    return this.options.settings.nodeId;
  }

  async join(): Promise<void> {
    const { store, logger, settings } = this.options;
    const previous = await store.getClusterNode(this.nodeId);
    await store.putClusterNode({ node_id: this.nodeId, incarnation: this.incarnation, url: settings.nodeUrl, version: this.options.version });
    this.lastBeatAt = performance.now();
    if (previous) {
      logger.info(
        { node_id: this.nodeId, incarnation: this.incarnation, previous_incarnation: previous.incarnation, previous_state: previous.state, previous_last_seen_at: previous.last_seen_at },
        'took over the row of this node id from an earlier incarnation',
      );
    }
    logger.info({ node_id: this.nodeId, incarnation: this.incarnation, url: settings.nodeUrl }, 'joined the cluster');
    this.beating = true;
    this.schedule();
  }

  /** A clean stop: the others see `leaving`, not `lost`. Heartbeats end. */
  async leave(): Promise<void> {
    if (!this.beating) return;
    await this.stop();
    try {
      await this.options.store.markClusterNodeLeaving(this.nodeId, this.incarnation);
    } catch (error) {
      // The others will see the node lost after the timeout instead: nothing else to do.
      this.options.logger.warn({ node_id: this.nodeId, err: describeError(error) }, 'could not record that this node is leaving');
    }
  }

  /** Ends the heartbeat (once the one under way is over) without a word to the others. */
  async stop(): Promise<void> {
    this.beating = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  /** Every node's row with its derived state, ordered by node id. */
  async nodes(): Promise<NodeView[]> {
    const { store } = this.options;
    const now = Date.parse(await store.databaseTime());
    const rows = await store.listClusterNodes();
    const counts = await nodePluginCounts(store, rows.map((row) => row.node_id));
    return rows.map((row) => ({
      node_id: row.node_id,
      url: row.url,
      state: this.stateOf(row, now),
      started_at: row.started_at,
      last_seen_at: row.last_seen_at,
      version: row.version,
      plugins: counts.get(row.node_id) ?? { running: 0, error: 0 },
    }));
  }

  async health(): Promise<ClusterHealth> {
    const nodes = await this.nodes();
    const fresh = this.beating && this.lastBeatAt !== undefined && performance.now() - this.lastBeatAt < this.options.settings.nodeTimeoutMs;
    return {
      ok: fresh,
      nodes_up: nodes.filter((node) => node.state === 'up').length,
      nodes_lost: nodes.filter((node) => node.state === 'lost').length,
    };
  }

  private stateOf(row: ClusterNodeRow, now: number): NodeState {
    if (row.state === 'leaving') return 'leaving';
    return now - Date.parse(row.last_seen_at) > this.options.settings.nodeTimeoutMs ? 'lost' : 'up';
  }

  private schedule(): void {
    if (!this.beating) return;
    // One beat at a time: the next is scheduled when this one is over, however slow the database.
    this.timer = setTimeout(() => {
      this.inFlight = this.beat().finally(() => {
        this.inFlight = undefined;
        this.schedule();
      });
    }, this.options.settings.heartbeatMs);
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    const { store, logger, settings } = this.options;
    try {
      if (await store.touchClusterNode(this.nodeId, this.incarnation)) {
        this.lastBeatAt = performance.now();
      } else {
        await this.rowLost();
        return;
      }
      const cutoff = new Date(Date.parse(await store.databaseTime()) - settings.pruneAfterMs).toISOString();
      const pruned = await store.deleteClusterNodesSeenBefore(cutoff, this.nodeId);
      if (pruned.length > 0) logger.info({ node_ids: pruned, not_seen_for_ms: settings.pruneAfterMs }, 'removed nodes not seen for long');
    } catch (error) {
      // The database is away: keep trying; past the node timeout the others see this node lost.
      logger.warn({ node_id: this.nodeId, err: describeError(error) }, 'heartbeat failed');
    }
  }

  /** The heartbeat changed nothing: another incarnation holds the row, or it was pruned. */
  private async rowLost(): Promise<void> {
    if (!this.beating) return;
    const { store, logger, settings } = this.options;
    const holder = await store.getClusterNode(this.nodeId);
    if (!holder) {
      // Pruned while this process was not beating (paused for longer than the prune age).
      logger.warn({ node_id: this.nodeId, incarnation: this.incarnation }, "this node's row was removed as long lost: registering again");
      await store.putClusterNode({ node_id: this.nodeId, incarnation: this.incarnation, url: settings.nodeUrl, version: this.options.version });
      this.lastBeatAt = performance.now();
      return;
    }
    this.beating = false;
    const message =
      `two nodes share one id "${this.nodeId}": this node (incarnation ${this.incarnation}) found its row taken by ` +
      `incarnation ${holder.incarnation} (started ${holder.started_at}${holder.url ? `, ${holder.url}` : ''}); stopping this one. ` +
      'Give every supervisor its own NODE_ID.';
    logger.error({ node_id: this.nodeId, incarnation: this.incarnation, other_incarnation: holder.incarnation }, message);
    this.options.onFatal(new Error(message));
  }
}

/** Each node's plugins by the state it recorded for them (running; error or quarantined). */
async function nodePluginCounts(store: Store, nodeIds: string[]): Promise<Map<string, NodePluginCounts>> {
  const counts = await Promise.all(
    nodeIds.map(async (nodeId): Promise<[string, NodePluginCounts]> => {
      const states = await store.nodeStatesOf(nodeId);
      return [
        nodeId,
        {
          running: states.filter((row) => row.state === 'running').length,
          error: states.filter((row) => row.state === 'error' || row.state === 'quarantined').length,
        },
      ];
    }),
  );
  return new Map(counts);
}
