import { accessSync, constants, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { ErrorCode, FaasError } from '@faas/core';
import { toFsStorageError, toStorageError } from './storage/storage-errors.ts';

/** Who holds a data dir, for the message a second server prints. */
interface Holder {
  pid: number;
  host: string;
  startedAt: string;
}

const SQLITE_BUSY = 5;

/**
 * One server per data dir. Two servers on one folder would take each other's containers for a
 * crashed run's orphans and remove them, and both would consume the queue's leases as a dead
 * holder's. The lock is a write lock SQLite holds on `server.lock` for the server's life: an
 * fcntl lock, which the kernel releases when the process dies however it dies, so a crashed
 * server's lock never blocks a restart; and SQLite tracks it per file within a process too, so a
 * second server in the same process is refused as well. `server.lock.json` says who holds it.
 */
export class DataDirLock {
  readonly dataDir: string;
  #db: DatabaseSync;

  private constructor(dataDir: string, db: DatabaseSync) {
    this.dataDir = dataDir;
    this.#db = db;
  }

  /**
   * Takes the lock (creating the folder), before anything else touches the data dir.
   * @throws FaasError DATA_DIR_IN_USE when another server holds it; STORAGE_READ_ONLY when the
   *   folder cannot be written; STORAGE_FULL, STORAGE_UNAVAILABLE.
   */
  static acquire(dataDir: string): DataDirLock {
    const lockPath = join(dataDir, 'server.lock');
    let db: DatabaseSync;
    try {
      mkdirSync(dataDir, { recursive: true });
      accessSync(dataDir, constants.W_OK);
      db = new DatabaseSync(lockPath, { timeout: 0 });
    } catch (err) {
      throw asStorageError(err, dataDir);
    }
    try {
      // A database with a page in it: an empty file needs space to begin a write transaction,
      // which a full disk would refuse. A no-op once the table exists.
      db.exec('CREATE TABLE IF NOT EXISTS lock (held INTEGER)');
      db.exec('BEGIN IMMEDIATE');
    } catch (err) {
      db.close();
      if ((err as { errcode?: number }).errcode === SQLITE_BUSY) throw inUse(dataDir);
      throw asStorageError(err, dataDir);
    }
    const holder: Holder = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
    try {
      writeFileSync(join(dataDir, 'server.lock.json'), `${JSON.stringify(holder)}\n`);
    } catch {
      // Only a second server's message needs it; a full disk must not keep this one from starting.
    }
    return new DataDirLock(dataDir, db);
  }

  /** Lets another server take the data dir. */
  release(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}

function inUse(dataDir: string): FaasError {
  const holder = readHolder(dataDir);
  const who = holder
    ? `pid ${holder.pid} on ${holder.host}, started ${holder.startedAt}`
    : 'it did not say which process it is';
  return new FaasError(
    ErrorCode.DATA_DIR_IN_USE,
    `The data dir ${dataDir} is in use by another faas server (${who}). Stop that server, or give this one its own FAAS_DATA_DIR.`,
    { details: { dataDir, ...(holder ? { holder } : {}) } },
  );
}

function readHolder(dataDir: string): Holder | undefined {
  try {
    return JSON.parse(readFileSync(join(dataDir, 'server.lock.json'), 'utf8')) as Holder;
  } catch {
    return undefined;
  }
}

function asStorageError(err: unknown, dataDir: string): unknown {
  const fromFs = toFsStorageError(err, 'data dir', dataDir);
  return fromFs === err ? toStorageError(err, 'data dir', dataDir) : fromFs;
}
