/**
 * Plugin log lines from this node's processes into the store: rate-limited per plugin,
 * buffered, written in batches.
 *
 * A plugin printing in a tight loop must cost the supervisor little and never fill its disk
 * or the database: each plugin has a token bucket on this node (`ratePerSecond`, `burst`);
 * a line without a token is dropped and counted, and at most once a second the plugin's log
 * gets one `host` line saying how many were dropped. The buffer between flushes is bounded
 * too (`maxBuffered`, lines over it are dropped and counted the same way). Every `flushMs`
 * the buffer is written, one transaction per plugin (`Store.appendPluginLogs`: numbered
 * after the plugin's last line on any node, trimmed to the retention). Lines cut at 8 KiB
 * arrive here already cut (protocol/log-lines.ts, in the host and in runtime/child.ts).
 */
import type { Logger } from 'pino';
import type { PluginLogSettings } from '../../config.js';
import type { LogStream, NewPluginLogLine, Store } from '../../store/store.js';
import { describeError } from '../../../protocol/error-text.js';

export interface PluginLogWriterDeps {
  store: Store;
  nodeId: string;
  settings: PluginLogSettings;
  logger: Logger;
  /** Told of lines dropped, per plugin version, once per flush (metrics). */
  onDropped?: (pluginId: string, version: string, count: number) => void;
  flushMs?: number;
  maxBuffered?: number;
}

/** Lines waiting for the next flush, across all plugins of this node. */
export const DEFAULT_MAX_BUFFERED_LINES = 10_000;
const DEFAULT_FLUSH_MS = 250;
/** At most one "dropped N lines" line per plugin per this long. */
const DROP_NOTICE_MS = 1000;

interface Bucket {
  tokens: number;
  refilledAt: number;
  /** Dropped since the last notice, by version (a reload may drop for two at once); `unreported`: not yet told to `onDropped`. */
  dropped: Map<string, { count: number; unreported: number; pid: number | null }>;
  noticeAt: number;
}

interface Buffered {
  pluginId: string;
  line: NewPluginLogLine;
}

export class PluginLogWriter {
  private buffer: Buffered[] = [];
  private readonly buckets = new Map<string, Bucket>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;
  private readonly flushMs: number;
  private readonly maxBuffered: number;

  constructor(private readonly deps: PluginLogWriterDeps) {
    this.flushMs = deps.flushMs ?? DEFAULT_FLUSH_MS;
    this.maxBuffered = deps.maxBuffered ?? DEFAULT_MAX_BUFFERED_LINES;
    this.timer = setInterval(() => void this.flush(), this.flushMs);
    this.timer.unref();
  }

  /** A line a plugin's process wrote; dropped (and counted) over the plugin's rate or the buffer's bound. */
  write(pluginId: string, version: string, pid: number | undefined, stream: LogStream, text: string): void {
    const bucket = this.bucket(pluginId);
    const now = Date.now();
    const { ratePerSecond, burst } = this.deps.settings;
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.refilledAt) / 1000) * ratePerSecond);
    bucket.refilledAt = now;
    if (bucket.tokens < 1 || this.buffer.length >= this.maxBuffered) {
      const dropped = bucket.dropped.get(version) ?? { count: 0, unreported: 0, pid: pid ?? null };
      dropped.count++;
      dropped.unreported++;
      bucket.dropped.set(version, dropped);
      return;
    }
    bucket.tokens -= 1;
    this.push(pluginId, version, pid ?? null, stream, text);
  }

  /** The supervisor's own line about a plugin's process (an exit, a restart): not rate-limited, only bounded by the buffer. */
  note(pluginId: string, version: string, pid: number | undefined, text: string): void {
    if (this.buffer.length >= this.maxBuffered) return;
    this.push(pluginId, version, pid ?? null, 'host', text);
  }

  /** Writes what is buffered now; one flush at a time (a call during one waits for it, then flushes). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    this.flushing = this.writeBuffered().finally(() => {
      this.flushing = undefined;
    });
    await this.flushing;
  }

  /** Stops the timer and writes what is left. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const bucket of this.buckets.values()) bucket.noticeAt = 0;
    await this.flush();
  }

  private bucket(pluginId: string): Bucket {
    let bucket = this.buckets.get(pluginId);
    if (!bucket) {
      bucket = { tokens: this.deps.settings.burst, refilledAt: Date.now(), dropped: new Map(), noticeAt: 0 };
      this.buckets.set(pluginId, bucket);
    }
    return bucket;
  }

  private push(pluginId: string, version: string, pid: number | null, stream: LogStream, text: string): void {
    this.buffer.push({ pluginId, line: { time: new Date().toISOString(), node_id: this.deps.nodeId, pid, version, stream, text } });
  }

  private addDropNotices(): void {
    const now = Date.now();
    const { ratePerSecond, burst } = this.deps.settings;
    for (const [pluginId, bucket] of this.buckets) {
      for (const [version, dropped] of bucket.dropped) {
        if (dropped.unreported > 0) this.deps.onDropped?.(pluginId, version, dropped.unreported);
        dropped.unreported = 0;
      }
      if (bucket.dropped.size === 0 || now - bucket.noticeAt < DROP_NOTICE_MS) continue;
      bucket.noticeAt = now;
      for (const [version, { count, pid }] of bucket.dropped) {
        const text = `dropped ${count} line${count === 1 ? '' : 's'}: over the limit of ${ratePerSecond} lines/s (burst ${burst}) on node ${this.deps.nodeId}`;
        // Past the buffer's bound on purpose: one line per plugin and second at most.
        this.push(pluginId, version, pid, 'host', text);
      }
      bucket.dropped.clear();
    }
  }

  private async writeBuffered(): Promise<void> {
    this.addDropNotices();
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    const byPlugin = new Map<string, NewPluginLogLine[]>();
    for (const { pluginId, line } of batch) {
      const lines = byPlugin.get(pluginId);
      if (lines) lines.push(line);
      else byPlugin.set(pluginId, [line]);
    }
    const { store, settings, logger } = this.deps;
    const retention = { lines: settings.lines, bytes: settings.bytes };
    for (const [pluginId, lines] of byPlugin) {
      try {
        await store.transaction((tx) => tx.appendPluginLogs(pluginId, lines, retention));
      } catch (error) {
        // The lines are lost (the buffer stays bounded); the service log says so once per batch.
        logger.warn({ plugin: pluginId, lines: lines.length, err: describeError(error) }, 'could not write plugin log lines');
      }
    }
    // Buckets of plugins that went quiet are forgotten (a full bucket is the same as none).
    const now = Date.now();
    for (const [pluginId, bucket] of this.buckets) {
      const idle = now - bucket.refilledAt > (settings.burst / settings.ratePerSecond) * 1000 + DROP_NOTICE_MS;
      if (idle && bucket.dropped.size === 0) this.buckets.delete(pluginId);
    }
  }
}
