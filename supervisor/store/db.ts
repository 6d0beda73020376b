/**
 * What the repository and the migrations need from an engine, and nothing more: a few
 * query calls with `?` placeholders, transactions and a migration lock. sqlite.ts and
 * postgres.ts implement it; everything above is written once for both.
 */

import type { Exclusive } from './store.js';

/** A value bound to a `?` placeholder. Booleans and JSON are encoded before they get here. */
export type SqlValue = string | number | Uint8Array | null;

/** A result row as the driver returns it, keyed by column name; rows.ts decodes it. */
export type Row = Record<string, unknown>;

export interface Db {
  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  get(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined>;
  /** Returns how many rows the statement changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /** Runs a script of `;`-separated statements without parameters (migrations, BEGIN...). */
  exec(script: string): Promise<void>;
  /**
   * An SQL expression for the database server's current time, as the store's timestamps
   * read (RFC 3339 UTC with milliseconds): the one clock every node can share.
   */
  readonly clock: string;
}

export interface Driver {
  readonly engine: 'sqlite' | 'postgres';
  /** Which database, for messages: "PostgreSQL at host:5432/db" (never a password). */
  readonly location: string;
  /** Each statement in its own (implicit) transaction. */
  readonly db: Db;
  /** See `Store.transaction`. */
  transaction<T>(work: (db: Db) => Promise<T>): Promise<T>;
  /** See `Store.tryExclusive`. */
  tryExclusive<T>(name: string, work: () => Promise<T>): Promise<Exclusive<T>>;
  /** Runs `work` while no other process migrates the same database. */
  withMigrationLock<T>(work: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * BEGIN, `work`, then COMMIT, or ROLLBACK when anything (COMMIT included) fails. `db` must
 * be the one connection the transaction runs on. The handle `work` gets stops working when
 * the transaction ends, so a reference kept past it cannot write outside the transaction.
 */
export async function runTransaction<T>(db: Db, begin: string, work: (db: Db) => Promise<T>): Promise<T> {
  await db.exec(begin);
  const scope = scoped(db);
  try {
    const result = await work(scope.db);
    await db.exec('COMMIT');
    return result;
  } catch (error) {
    // A failed ROLLBACK means the engine has already ended the transaction (SQLite after
    // some I/O errors) or the connection is gone (the pool then drops it); either way the
    // caller needs the error that made the transaction fail, not this one.
    await db.exec('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    scope.end();
  }
}

function scoped(db: Db): { db: Db; end(): void } {
  let open = true;
  const check = () => {
    if (!open) throw new Error('this transaction has ended; use the store, not the transaction handle');
  };
  return {
    db: {
      all: async (sql, params) => {
        check();
        return db.all(sql, params);
      },
      get: async (sql, params) => {
        check();
        return db.get(sql, params);
      },
      run: async (sql, params) => {
        check();
        return db.run(sql, params);
      },
      exec: async (script) => {
        check();
        return db.exec(script);
      },
      clock: db.clock,
    },
    end: () => {
      open = false;
    },
  };
}
