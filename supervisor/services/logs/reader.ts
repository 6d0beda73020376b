/**
 * Reading plugin logs for the API: a page of the newest lines, and following new lines as
 * they reach the database from any node (`GET /plugins/:id/logs` and `/logs/stream`).
 *
 * Following polls the store every `pollMs` for lines after the last one sent, at most
 * `batchLines` per poll (so one client's poll is bounded work), and each node serves at most
 * `maxFollowers` followers at once: a client asking for more gets 503 `too_many_streams`.
 * Lines come from the database, not from this node's writer, so a client connected to any
 * node sees every node's lines (about `pollMs` plus the writers' flush interval late).
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { PluginLogQuery, PluginLogRow, Store } from '../../store/store.js';
import type { PluginLogPage, PluginLogService } from '../contracts.js';
import { notFound, ServiceError } from '../errors.js';

export interface PluginLogReaderOptions {
  pollMs?: number;
  maxFollowers?: number;
  batchLines?: number;
}

/** Followers one node serves at once. */
export const MAX_LOG_FOLLOWERS = 32;
const DEFAULT_POLL_MS = 500;
const DEFAULT_BATCH_LINES = 500;
/** While nothing new arrives, whether the plugin still exists is checked this often (in polls). */
const EXISTENCE_CHECK_POLLS = 20;

export class PluginLogReader implements PluginLogService {
  private followers = 0;
  private readonly pollMs: number;
  private readonly maxFollowers: number;
  private readonly batchLines: number;

  constructor(
    private readonly store: Store,
    options: PluginLogReaderOptions = {},
  ) {
    this.pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    this.maxFollowers = options.maxFollowers ?? MAX_LOG_FOLLOWERS;
    this.batchLines = options.batchLines ?? DEFAULT_BATCH_LINES;
  }

  async list(pluginId: string, query: PluginLogQuery): Promise<PluginLogPage> {
    await this.requirePlugin(pluginId);
    const items = await this.store.listPluginLogs(pluginId, query);
    return { items, next: items.at(-1)?.seq ?? query.after ?? 0 };
  }

  /**
   * Claims a follower's place (503 when every place is taken) and checks the plugin; the
   * returned iterator yields batches of new lines, after `after` (unset: from now on), until
   * `signal` aborts or the plugin is uninstalled. Its `return` frees the place.
   */
  async follow(pluginId: string, after: number | undefined, signal: AbortSignal): Promise<AsyncGenerator<PluginLogRow[]>> {
    if (this.followers >= this.maxFollowers) {
      throw new ServiceError(503, 'too_many_streams', `this node already streams logs to ${this.maxFollowers} clients; try again later or another node`);
    }
    this.followers++;
    try {
      await this.requirePlugin(pluginId);
      const start = after ?? (await this.store.listPluginLogs(pluginId, { limit: 1 })).at(-1)?.seq ?? 0;
      return this.poll(pluginId, start, signal);
    } catch (error) {
      this.followers--;
      throw error;
    }
  }

  private async *poll(pluginId: string, after: number, signal: AbortSignal): AsyncGenerator<PluginLogRow[]> {
    try {
      let idlePolls = 0;
      while (!signal.aborted) {
        const lines = await this.store.listPluginLogs(pluginId, { after, limit: this.batchLines, oldest: true });
        if (lines.length > 0) {
          idlePolls = 0;
          after = lines.at(-1)!.seq;
          yield lines;
          // A full batch means more are waiting: read on without sleeping.
          if (lines.length === this.batchLines) continue;
        } else if (++idlePolls % EXISTENCE_CHECK_POLLS === 0 && !(await this.store.getPlugin(pluginId))) {
          return;
        }
        await delay(this.pollMs, undefined, { signal }).catch(() => undefined);
      }
    } finally {
      this.followers--;
    }
  }

  private async requirePlugin(pluginId: string): Promise<void> {
    if (!(await this.store.getPlugin(pluginId))) throw notFound(`no plugin with id ${pluginId}`);
  }
}
