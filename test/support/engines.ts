// The two engines the store suite runs on, each as a factory of fresh, empty databases:
// a temporary directory for SQLite, a uniquely named schema of the shared `test` database
// for PostgreSQL (so concurrent test runs never see each other's rows), removed afterwards.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Config } from '../../supervisor/config.js';
import type { Driver } from '../../supervisor/store/db.js';
import { openPostgres } from '../../supervisor/store/postgres.js';
import { openSqlite } from '../../supervisor/store/sqlite.js';
import type { StoreOps } from '../../supervisor/store/store.js';

export type StoreConfig = Pick<Config, 'dataDir' | 'databaseUrl'>;

/** The PostgreSQL server of this machine and of CI. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface EngineFixture {
  readonly engine: 'sqlite' | 'postgres';
  /** A fresh, empty database, and the configuration that opens it. */
  create(): Promise<StoreConfig>;
  /** The engine's driver on a database `create()` made, without migrating it. */
  openDriver(config: StoreConfig): Driver;
  /** Removes every database this fixture created. */
  dispose(): Promise<void>;
}

export function sqliteFixture(): EngineFixture {
  const dirs: string[] = [];
  return {
    engine: 'sqlite',
    async create() {
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pk-store-'));
      dirs.push(dataDir);
      return { dataDir, databaseUrl: undefined };
    },
    openDriver: (config) => openSqlite(config.dataDir),
    async dispose() {
      await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
    },
  };
}

export function postgresFixture(): EngineFixture {
  const dirs: string[] = [];
  const schemas: string[] = [];
  return {
    engine: 'postgres',
    async create() {
      const schema = `pk_test_${randomBytes(6).toString('hex')}`;
      await admin((client) => client.query(`CREATE SCHEMA ${schema}`));
      schemas.push(schema);
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pk-store-pg-'));
      dirs.push(dataDir);
      // search_path on every pooled connection; a time zone far from UTC shows that the
      // store's sessions run in UTC whatever the server or the URL says.
      const options = encodeURIComponent(`-c search_path=${schema} -c TimeZone=Asia/Kolkata`);
      const separator = TEST_DATABASE_URL.includes('?') ? '&' : '?';
      return { dataDir, databaseUrl: `${TEST_DATABASE_URL}${separator}options=${options}` };
    },
    openDriver: (config) => openPostgres(config.databaseUrl!),
    async dispose() {
      await admin(async (client) => {
        for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      });
      await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
    },
  };
}

async function admin<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** The migration files of the repository, in the order they apply (what a migrated database records). */
export async function migrationFileNames(): Promise<string[]> {
  const dir = fileURLToPath(new URL('../../../migrations/', import.meta.url));
  return (await readdir(dir)).filter((name) => name.endsWith('.sql')).sort();
}

/**
 * Writes (or takes over) the row of `nodeId` in `cluster_nodes`, as a starting node does:
 * per-node rows reference it. For tests that run a reconciler without a NodeMembership.
 */
export async function registerTestNode(store: Pick<StoreOps, 'putClusterNode'>, nodeId: string): Promise<void> {
  await store.putClusterNode({ node_id: nodeId, incarnation: randomUUID(), url: null, version: 'test' });
}
