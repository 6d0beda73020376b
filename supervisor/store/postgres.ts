/**
 * The production engine: a pg connection pool. Statements outside a transaction take any
 * pooled connection; a transaction holds one connection from BEGIN to COMMIT, so other
 * callers keep running on the others meanwhile.
 */
import pg from 'pg';
import { runTransaction, type Db, type Driver, type Row, type SqlValue } from './db.js';
import type { Exclusive } from './store.js';
import { DatabaseUnavailable, UniqueViolation } from './errors.js';
import { describeError } from '../../protocol/error-text.js';

/** A server that does not answer (a dropped SYN) fails the call after this, rather than never. */
const CONNECT_TIMEOUT_MS = 10_000;
/** Locks held at once by this process (index runs of different repositories); more wait for a connection. */
const LOCK_CONNECTIONS = 4;

export function openPostgres(url: string): Driver {
  return new PostgresDriver(url);
}

class PostgresDriver implements Driver {
  readonly engine = 'postgres';
  readonly db: Db;
  readonly location: string;
  private readonly pool: pg.Pool;
  /**
   * Connections that hold `tryExclusive` locks, apart from the queries' pool: work done under
   * a lock queries through `pool`, so holders can never take every connection their own
   * work waits for.
   */
  private readonly lockPool: pg.Pool;
  private readonly utcSessions = new WeakSet<pg.PoolClient>();

  constructor(url: string) {
    // pg's own reading of the URL (and of the PG* environment defaults); nothing connects.
    const { host, port, database } = new pg.Client({ connectionString: url });
    this.location = `PostgreSQL at ${host}:${port}/${database ?? ''}`;
    this.pool = new pg.Pool({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    // A connection that breaks (a server restart) makes the pool, when it is idle, or its
    // client, when it is in use, emit 'error'; unheard, that event would end the process.
    // The pool drops the connection, and the call in flight on it fails with the same error.
    this.lockPool = new pg.Pool({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, max: LOCK_CONNECTIONS });
    for (const pool of [this.pool, this.lockPool]) {
      pool.on('error', () => undefined);
      pool.on('connect', (client) => client.on('error', () => undefined));
    }
    this.db = queryDb((sql, params) => this.withClient((client) => client.query<Row>(sql, params)));
  }

  transaction<T>(work: (db: Db) => Promise<T>): Promise<T> {
    return this.withClient((client) =>
      runTransaction(
        queryDb((sql, params) => client.query<Row>(sql, params)),
        'BEGIN',
        work,
      ),
    );
  }

  /**
   * A session-level advisory lock on a connection of the lock pool, held while `work` runs,
   * keyed by the schema (tests run several schemas side by side in one database) and a
   * 32-bit hash of the name: two names with one hash only take turns.
   */
  async tryExclusive<T>(name: string, work: () => Promise<T>): Promise<Exclusive<T>> {
    const key = `hashtext('plugin-keeper lock in ' || current_schema() || ': ' || $1)`;
    const client = await this.connect(this.lockPool);
    let locked = false;
    try {
      locked = (await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${key}) AS locked`, [name])).rows[0]?.locked === true;
      if (!locked) return { ran: false };
      return { ran: true, value: await work() };
    } finally {
      if (!locked) client.release();
      else {
        await client.query(`SELECT pg_advisory_unlock(${key})`, [name]).then(
          () => client.release(),
          // The session cannot say: end it, which releases the lock.
          () => client.release(true),
        );
      }
    }
  }

  /**
   * A session-level advisory lock, keyed by the schema the migrations go to (tests run
   * several schemas side by side in one database).
   */
  async withMigrationLock<T>(work: () => Promise<T>): Promise<T> {
    const client = await this.connect();
    try {
      await client.query(`SELECT pg_advisory_lock(hashtext('plugin-keeper migrations in ' || current_schema()))`);
      return await work();
    } finally {
      // Ending the session releases the lock, whether or not the work (or the connection)
      // failed; a connection is cheap next to a lock left held.
      client.release(true);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.end(), this.lockPool.end()]);
  }

  private async withClient<T>(use: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.connect();
    try {
      return await use(client);
    } finally {
      client.release();
    }
  }

  private async connect(pool = this.pool): Promise<pg.PoolClient> {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw new DatabaseUnavailable(`cannot connect to ${this.location}: ${describeError(error)}`, { cause: error });
    }
    if (!this.utcSessions.has(client)) {
      // Timestamps the database formats itself (CURRENT_TIMESTAMP in the migrations' seeds)
      // must be UTC like those the repository writes, whatever the server's TimeZone.
      try {
        await client.query(`SET TIME ZONE 'UTC'`);
      } catch (error) {
        client.release(true);
        throw new DatabaseUnavailable(`${this.location} failed to set up a new session: ${describeError(error)}`, { cause: error });
      }
      this.utcSessions.add(client);
    }
    return client;
  }
}

type Query = (sql: string, params?: SqlValue[]) => Promise<pg.QueryResult<Row>>;

function queryDb(query: Query): Db {
  const send = async (sql: string, params?: SqlValue[]) => {
    try {
      return await query(sql, params);
    } catch (error) {
      throw uniqueViolation(error) ?? error;
    }
  };
  return {
    all: async (sql, params = []) => (await send(positional(sql), [...params])).rows,
    get: async (sql, params = []) => (await send(positional(sql), [...params])).rows[0],
    run: async (sql, params = []) => (await send(positional(sql), [...params])).rowCount ?? 0,
    // Without parameters pg uses the simple query protocol, which runs several statements.
    exec: async (script) => {
      await send(script);
    },
    // clock_timestamp(): the time of the statement's evaluation, not of its transaction's start.
    clock: `to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
  };
}

/** `?` placeholders as pg's `$1, $2...`; a `?` inside a quoted literal or identifier stays. */
export function positional(sql: string): string {
  let index = 0;
  return sql.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|\?/g, (token) => (token === '?' ? `$${++index}` : token));
}

/** The columns are in the detail, "Key (name)=(npm) already exists."; servers translate the words around them only. */
function uniqueViolation(error: unknown): UniqueViolation | undefined {
  if (!(error instanceof pg.DatabaseError) || error.code !== '23505') return undefined;
  const columns = /\(([^)]*)\)=\(/.exec(error.detail ?? '')?.[1] ?? error.constraint ?? 'unknown';
  return new UniqueViolation(error.table ?? 'unknown', columns, { cause: error });
}
