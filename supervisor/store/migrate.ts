/**
 * Brings the database schema up to date at start: applies the pending files of
 * migrations/ in version order, each in its own transaction together with its row in
 * schema_migrations, so a migration is either wholly applied and recorded or not at all.
 * See migrations/README.md for the rules the files follow.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { timestamp } from './clock.js';
import type { Driver } from './db.js';
import { DatabaseUnavailable } from './errors.js';
import { describeError } from '../../protocol/error-text.js';

/** The repository's migrations/ folder (this module runs as dist/supervisor/store/migrate.js). */
const MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations/', import.meta.url));

const MIGRATION_FILE = /^(\d{3,})_([a-z0-9_]+)\.sql$/;

interface Migration {
  version: number;
  file: string;
  sql: string;
}

/** Applies what is pending; returns the versions applied now (none when already up to date). */
export async function migrate(driver: Driver): Promise<number[]> {
  const migrations = await readMigrations(MIGRATIONS_DIR);
  return driver.withMigrationLock(async () => {
    await driver.db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
    );
    const applied: number[] = [];
    for (const migration of migrations) {
      if (await apply(driver, migration)) applied.push(migration.version);
    }
    return applied;
  });
}

async function apply(driver: Driver, migration: Migration): Promise<boolean> {
  try {
    return await driver.transaction(async (db) => {
      // Checked inside the transaction: on SQLite another process may have applied it
      // since this one looked (PostgreSQL runners are serialized by the migration lock).
      if (await db.get('SELECT version FROM schema_migrations WHERE version = ?', [migration.version])) return false;
      await db.exec(migration.sql);
      await db.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
        migration.version,
        migration.file,
        timestamp(),
      ]);
      return true;
    });
  } catch (error) {
    if (error instanceof DatabaseUnavailable) throw error;
    throw new Error(`migration ${migration.file} failed: ${describeError(error)}`, { cause: error });
  }
}

async function readMigrations(dir: string): Promise<Migration[]> {
  const migrations: Migration[] = [];
  for (const file of await readdir(dir)) {
    if (!file.endsWith('.sql')) continue;
    const match = MIGRATION_FILE.exec(file);
    // A misnamed file would otherwise be skipped without a word.
    if (!match) throw new Error(`${path.join(dir, file)}: migration files are named NNN_lowercase_name.sql`);
    migrations.push({ version: Number(match[1]), file, sql: await readFile(path.join(dir, file), 'utf8') });
  }
  migrations.sort((a, b) => a.version - b.version);
  migrations.forEach((migration, index) => {
    const previous = migrations[index - 1];
    if (previous?.version === migration.version) {
      throw new Error(`migrations ${previous.file} and ${migration.file} have the same version`);
    }
  });
  return migrations;
}
