/**
 * "The desired state changed": announced by the node that committed a change, heard by
 * every node, which then reconciles.
 *
 * On PostgreSQL: `LISTEN/NOTIFY` on a channel named after the current schema (clusters, and
 * parallel test runs, sharing one database never hear each other), listened on a dedicated
 * connection that is re-opened with backoff when it drops; `onConnect` runs after every
 * (re)connection, since changes may have been missed while it was down. On SQLite there is
 * one node: an announcement is heard in-process.
 *
 * Only a hint: nodes also reconcile periodically, so a lost announcement delays a change,
 * never loses it.
 */
import pg from 'pg';

export interface ChangeListener {
  /** A change was announced by `fromNode`. */
  onChange(fromNode: string): void;
  /** The channel is (again) listened to: changes may have been missed. */
  onConnect(): void;
  onError(error: Error): void;
}

export interface ChangeNotifier {
  start(listener: ChangeListener): Promise<void>;
  /** Tells every node (this one included) that the desired state changed. */
  announce(fromNode: string): Promise<void>;
  stop(): Promise<void>;
}

/** The single node of an embedded (SQLite) installation. */
export class LocalNotifier implements ChangeNotifier {
  private listener: ChangeListener | undefined;

  async start(listener: ChangeListener): Promise<void> {
    this.listener = listener;
    listener.onConnect();
  }

  async announce(fromNode: string): Promise<void> {
    const listener = this.listener;
    if (listener) queueMicrotask(() => listener.onChange(fromNode));
  }

  async stop(): Promise<void> {
    this.listener = undefined;
  }
}

const BACKOFF_INITIAL_MS = 100;
const BACKOFF_MAX_MS = 5000;

export class PostgresNotifier implements ChangeNotifier {
  private client: pg.Client | undefined;
  private channel: string | undefined;
  private listener: ChangeListener | undefined;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoffMs = BACKOFF_INITIAL_MS;

  constructor(private readonly databaseUrl: string) {}

  /** Resolves once the first LISTEN is in place; throws when the database cannot be reached. */
  async start(listener: ChangeListener): Promise<void> {
    this.listener = listener;
    await this.connect();
  }

  async announce(fromNode: string): Promise<void> {
    // A client of its own for a moment: the listening session runs nothing but its LISTEN.
    const client = new pg.Client({ connectionString: this.databaseUrl });
    client.on('error', () => undefined);
    await client.connect();
    try {
      await client.query('SELECT pg_notify($1, $2)', [this.channel ?? (await channelOf(client)), fromNode]);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('the notification connection ended')));
    client.on('notification', (message) => {
      if (message.channel === this.channel) this.listener?.onChange(message.payload ?? '');
    });
    try {
      await client.connect();
      this.channel = await channelOf(client);
      await client.query(`LISTEN ${client.escapeIdentifier(this.channel)}`);
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.backoffMs = BACKOFF_INITIAL_MS;
    this.listener?.onConnect();
  }

  private lost(client: pg.Client, error: Error): void {
    if (this.client !== client || this.stopped) return;
    this.client = undefined;
    client.end().catch(() => undefined);
    this.listener?.onError(error);
    this.retry();
  }

  private retry(): void {
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    this.retryTimer = setTimeout(() => {
      if (this.stopped) return;
      this.connect().catch((error: Error) => {
        this.listener?.onError(error);
        this.retry();
      });
    }, delay);
    this.retryTimer.unref();
  }
}

/** The channel of the schema the connection works in (at most 63 bytes, PostgreSQL's identifier limit). */
async function channelOf(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ schema: string }>('SELECT current_schema() AS schema');
  return `plugin_keeper_changes:${rows[0]!.schema}`.slice(0, 63);
}
