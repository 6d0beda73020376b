/**
 * The embedded engine: one better-sqlite3 connection to `<dataDir>/plugin-keeper.db`.
 *
 * better-sqlite3 is synchronous and has one connection, so a transaction whose work awaits
 * (a file write, a plugin call) would let any other caller's statements run inside it. A
 * mutex prevents that: a transaction holds it from BEGIN to COMMIT, and every statement
 * outside one takes it too, so it waits for the transaction instead of joining it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { runTransaction, type Db, type Driver, type Row } from './db.js';
import { DatabaseUnavailable, UniqueViolation } from './errors.js';
import { Mutex } from './mutex.js';
import type { Exclusive } from './store.js';
import { describeError } from '../../protocol/error-text.js';

export const SQLITE_FILE = 'plugin-keeper.db';

/** How long a statement waits for another process's write lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5_000;

export function openSqlite(dataDir: string): Driver {
  const file = path.join(dataDir, SQLITE_FILE);
  try {
    const database = new Database(file, { timeout: BUSY_TIMEOUT_MS });
    // WAL lets readers in other processes (a CLI next to the server) run during writes.
    database.pragma('journal_mode = WAL');
    makePrivate(file);
    database.pragma('foreign_keys = ON');
    return new SqliteDriver(database, `SQLite database ${file}`);
  } catch (error) {
    throw new DatabaseUnavailable(`cannot open the SQLite database ${file}: ${describeError(error)}`, { cause: error });
  }
}

/**
 * The database holds token hashes and every plugin's binary: owner-only (0600), also when an
 * older version created it world-readable. SQLite gives -wal and -shm the database file's
 * mode when it creates them; existing ones are corrected here too.
 */
function makePrivate(file: string): void {
  for (const name of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      fs.chmodSync(name, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

class SqliteDriver implements Driver {
  readonly engine = 'sqlite';
  readonly db: Db;
  /** The connection itself, for code that already holds the mutex. */
  private readonly connection: Db;
  private readonly mutex = new Mutex();
  /** The names `tryExclusive` holds. */
  private readonly heldLocks = new Set<string>();
  /** Marks the async context of a transaction's work, to catch calls that would wait on themselves. */
  private readonly transactionScope = new AsyncLocalStorage<{ open: boolean }>();

  constructor(
    private readonly database: Database.Database,
    readonly location: string,
  ) {
    const connection = connectionDb(database);
    this.connection = connection;
    this.db = {
      all: (sql, params) => this.exclusive(() => connection.all(sql, params)),
      get: (sql, params) => this.exclusive(() => connection.get(sql, params)),
      run: (sql, params) => this.exclusive(() => connection.run(sql, params)),
      exec: (script) => this.exclusive(() => connection.exec(script)),
      clock: connection.clock,
    };
  }

  transaction<T>(work: (db: Db) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      const scope = { open: true };
      try {
        // IMMEDIATE takes the write lock now, so another process cannot make the
        // transaction fail halfway with SQLITE_BUSY when it first writes.
        return await this.transactionScope.run(scope, () => runTransaction(this.connection, 'BEGIN IMMEDIATE', work));
      } finally {
        // Callbacks the work left behind (timers, background tasks) inherit this context;
        // once the transaction is over they may use the store again.
        scope.open = false;
      }
    });
  }

  /** One supervisor per SQLite database: the locks of this process are all there are. */
  async tryExclusive<T>(name: string, work: () => Promise<T>): Promise<Exclusive<T>> {
    if (this.heldLocks.has(name)) return { ran: false };
    this.heldLocks.add(name);
    try {
      return { ran: true, value: await work() };
    } finally {
      this.heldLocks.delete(name);
    }
  }

  /**
   * Each migration's BEGIN IMMEDIATE already excludes other processes, and the runner checks
   * inside that transaction whether the migration is still pending.
   */
  withMigrationLock<T>(work: () => Promise<T>): Promise<T> {
    return work();
  }

  async close(): Promise<void> {
    await this.mutex.run(() => this.database.close());
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (this.transactionScope.getStore()?.open) {
      // The mutex is held by the caller's own transaction: waiting would never end.
      return Promise.reject(new Error('the store was called inside its own transaction: use the handle transaction() gives to work'));
    }
    return this.mutex.run(work);
  }
}

function connectionDb(database: Database.Database): Db {
  // A handful of distinct statements (the repository's, and one per combination of
  // patched columns), each prepared once.
  const statements = new Map<string, Database.Statement>();
  const prepare = (sql: string) => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = database.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
  return {
    all: async (sql, params = []) => translateErrors(() => prepare(sql).all(...params) as Row[]),
    get: async (sql, params = []) => translateErrors(() => prepare(sql).get(...params) as Row | undefined),
    run: async (sql, params = []) => translateErrors(() => prepare(sql).run(...params).changes),
    exec: async (script) => translateErrors(() => void database.exec(script)),
    // %f is seconds with milliseconds; 'now' is UTC.
    clock: `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`,
  };
}

function translateErrors<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw uniqueViolation(error) ?? error;
  }
}

/** better-sqlite3 names the columns in the message: "UNIQUE constraint failed: plugins.name". */
function uniqueViolation(error: unknown): UniqueViolation | undefined {
  const code = (error as { code?: unknown }).code;
  if (code !== 'SQLITE_CONSTRAINT_UNIQUE' && code !== 'SQLITE_CONSTRAINT_PRIMARYKEY') return undefined;
  const qualified = /constraint failed: (.+)$/.exec((error as Error).message)?.[1]?.split(', ');
  if (!qualified) return undefined;
  const [table = 'unknown'] = qualified[0]!.split('.');
  const columns = qualified.map((name) => name.slice(name.indexOf('.') + 1)).join(', ');
  return new UniqueViolation(table, columns, { cause: error });
}
