/** The one way to get a Store: picks the engine from the configuration and migrates it. */
import { mkdir } from 'node:fs/promises';
import type { Config } from '../config.js';
import type { Driver } from './db.js';
import { DatabaseUnavailable } from './errors.js';
import { migrate } from './migrate.js';
import { openPostgres } from './postgres.js';
import { StoreQueries } from './queries.js';
import { openSqlite } from './sqlite.js';
import type { Exclusive, Store, StoreOps } from './store.js';
import { describeError } from '../../protocol/error-text.js';

/**
 * Creates the data directory, opens PostgreSQL when `databaseUrl` is set and SQLite in
 * `dataDir` otherwise, and applies pending migrations. Throws `DatabaseUnavailable` when
 * the database cannot be reached or opened.
 */
export async function openStore(config: Pick<Config, 'dataDir' | 'databaseUrl'>): Promise<Store> {
  // Private: it holds the database, the plugins' files and the generated admin token.
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const driver = config.databaseUrl ? openPostgres(config.databaseUrl) : openSqlite(config.dataDir);
  try {
    await migrate(driver);
  } catch (error) {
    await driver.close().catch(() => undefined);
    throw error;
  }
  return new SqlStore(driver);
}

class SqlStore extends StoreQueries implements Store {
  readonly engine: Store['engine'];

  constructor(private readonly driver: Driver) {
    super(driver.db);
    this.engine = driver.engine;
  }

  transaction<T>(work: (tx: StoreOps) => Promise<T>): Promise<T> {
    return this.driver.transaction((db) => work(new StoreQueries(db)));
  }

  tryExclusive<T>(name: string, work: () => Promise<T>): Promise<Exclusive<T>> {
    return this.driver.tryExclusive(name, work);
  }

  async ping(): Promise<void> {
    try {
      await this.db.get('SELECT 1 AS ok');
    } catch (error) {
      if (error instanceof DatabaseUnavailable) throw error;
      throw new DatabaseUnavailable(`${this.driver.location} did not answer: ${describeError(error)}`, { cause: error });
    }
  }

  close(): Promise<void> {
    return this.driver.close();
  }
}
