/**
 * One supervisor per data directory. Two on the same DATA_DIR would share its transpile
 * cache, staging folders and (on SQLite) its database behind in-process locks only, so the
 * second one refuses to start, naming the process that holds the directory.
 *
 * The lock is SQLite's own file lock (POSIX `fcntl`) on `DATA_DIR/supervisor.lock`, a
 * small SQLite database: the holder keeps a write transaction open (BEGIN IMMEDIATE) for
 * as long as it runs. The kernel drops the lock when the process dies, however it dies
 * (SIGKILL, OOM): the next start never waits and never has to judge whether a pid is
 * stale (pids repeat across containers). Node has no flock, and this needs no native
 * package beyond the better-sqlite3 the store already uses.
 *
 * Who holds the lock (pid, node id, host, since when) is a row of that file, committed
 * before the holder takes the lock for good; it serves the refusal's message only. A
 * writer's lock leaves readers free, so the refused process can read it.
 */
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';

export const DATA_DIR_LOCK_FILE = 'supervisor.lock';

/** Another supervisor runs on this data directory. */
export class DataDirInUse extends Error {}

export interface DataDirLock {
  /** Lets the next supervisor in; closing the process does the same. */
  release(): void;
}

interface Holder {
  pid: number;
  node_id: string;
  host: string;
  since: string;
}

/** Takes the data directory for this process, or throws `DataDirInUse` naming its holder. */
export async function lockDataDir(dataDir: string, nodeId: string): Promise<DataDirLock> {
  // Private: it holds the database, the plugins' files and the generated admin token.
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, DATA_DIR_LOCK_FILE);
  // timeout 0: a lock held elsewhere fails at once (SQLITE_BUSY) instead of being waited for.
  const database = new Database(file, { timeout: 0 });
  try {
    database.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, node_id TEXT NOT NULL, host TEXT NOT NULL, since TEXT NOT NULL)');
    // Record who we are, then hold the write lock from the next statement on. Between the
    // two a rival could take it; then our BEGIN fails and we refuse, as it would have.
    database.transaction(() => {
      database.exec('DELETE FROM holder');
      database
        .prepare('INSERT INTO holder (pid, node_id, host, since) VALUES (?, ?, ?, ?)')
        .run(process.pid, nodeId, os.hostname(), new Date().toISOString());
    }).immediate();
    database.exec('BEGIN IMMEDIATE');
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith('SQLITE_BUSY')) {
      const holder = readHolder(database);
      database.close();
      throw new DataDirInUse(inUseMessage(dataDir, holder), { cause: error });
    }
    database.close();
    throw error;
  }
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      database.exec('ROLLBACK');
      database.close();
    },
  };
}

function readHolder(database: Database.Database): Holder | undefined {
  try {
    return database.prepare('SELECT pid, node_id, host, since FROM holder').get() as Holder | undefined;
  } catch {
    // The first holder has not recorded itself yet (the table is not there): say less.
    return undefined;
  }
}

function inUseMessage(dataDir: string, holder: Holder | undefined): string {
  const who = holder
    ? `pid ${holder.pid}, node "${holder.node_id}" on host "${holder.host}", since ${holder.since}`
    : 'a process that has not said who it is yet';
  return (
    `DATA_DIR ${dataDir} is in use by another supervisor (${who}). ` +
    'A data directory serves one supervisor: stop that one, or give this one its own DATA_DIR ' +
    `(the lock is ${DATA_DIR_LOCK_FILE} there; it is released when its holder exits, however it exits).`
  );
}
