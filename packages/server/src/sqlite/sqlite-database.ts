import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { type BackendHealth, ErrorCode } from '@faas/core';
import { FailureMemory, isStorageError, toStorageError } from '../storage/storage-errors.ts';
import { WalCheckpointer } from './wal-checkpointer.ts';

/** SQLite's own default for `wal_autocheckpoint`, given back when a checkpoint thread fails. */
const SQLITE_AUTO_CHECKPOINT_PAGES = 1000;

/** How long a connection waits for another one's write lock before failing with SQLITE_BUSY. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

export type SqlParam = SQLInputValue;
export type SqlRow = Record<string, SQLInputValue>;

/**
 * One `node:sqlite` connection tuned for a server: WAL (readers never block the writer, and the
 * store and queue can share one file through separate connections), `synchronous=NORMAL` (a commit
 * survives a killed process; only an OS crash can lose the last commits), and a busy timeout so
 * concurrent writers queue up instead of failing. Prepared statements are cached by their SQL.
 *
 * Failures of the storage itself (disk full, read-only, I/O) become FaasErrors with a storage code
 * naming `backend`, and are remembered for `health()`; other errors pass unchanged.
 */
export class SqliteDatabase {
  readonly path: string;
  /** What this connection serves ("store", "queue"): named in errors and `/ready`. */
  readonly backend: string;
  #db: DatabaseSync;
  #statements = new Map<string, StatementSync>();
  #failures: FailureMemory;
  #busyTimeoutMs: number;
  #checkpointer: WalCheckpointer | undefined;

  constructor(
    path: string,
    busyTimeoutMs = DEFAULT_BUSY_TIMEOUT_MS,
    backend = 'database',
    failures = new FailureMemory(),
  ) {
    this.path = path;
    this.backend = backend;
    this.#failures = failures;
    this.#busyTimeoutMs = busyTimeoutMs;
    if (path !== ':memory:' && !path.startsWith('file:')) mkdirSync(dirname(path), { recursive: true });
    this.#db = this.#guard(() => {
      const db = new DatabaseSync(path, { timeout: busyTimeoutMs, enableForeignKeyConstraints: true });
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = NORMAL');
      db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.trunc(busyTimeoutMs))}`);
      return db;
    });
  }

  get isOpen(): boolean {
    return this.#db.isOpen;
  }

  /**
   * Turns off SQLite's automatic checkpoint on this connection, so none of its commits copies the
   * WAL into the file (with fsyncs) on the calling thread. Some connection must checkpoint instead:
   * `checkpointOnThread` here, or the one that called it on another connection to this file.
   */
  disableAutoCheckpoint(): void {
    this.exec('PRAGMA wal_autocheckpoint = 0');
  }

  /**
   * Turns the automatic checkpoint off and runs checkpoints on a thread of their own
   * (WalCheckpointer). Should that thread fail, the automatic checkpoint comes back. Stopped by
   * `close`. A no-op for `:memory:`, which has no WAL.
   */
  checkpointOnThread(options: { intervalMs?: number; onError: (err: unknown) => void }): void {
    if (this.#checkpointer || this.path === ':memory:') return;
    this.disableAutoCheckpoint();
    this.#checkpointer = new WalCheckpointer(this.path, {
      busyTimeoutMs: this.#busyTimeoutMs,
      ...(options.intervalMs === undefined ? {} : { intervalMs: options.intervalMs }),
      onError: options.onError,
      onLost: () => {
        this.#checkpointer = undefined;
        if (this.#db.isOpen) this.exec(`PRAGMA wal_autocheckpoint = ${SQLITE_AUTO_CHECKPOINT_PAGES}`);
      },
    });
  }

  /** Checkpoints run by this connection's checkpoint thread so far (0 without one). */
  get threadCheckpoints(): number {
    return this.#checkpointer?.checkpoints ?? 0;
  }

  /** Whether a transaction is open on this connection (so a step can join it). */
  get inTransaction(): boolean {
    return this.#db.isTransaction;
  }

  /** The cached prepared statement for this SQL (prepared on first use). */
  statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  run(sql: string, ...params: SqlParam[]): { changes: number } {
    return this.#guard(() => {
      const { changes } = this.statement(sql).run(...params);
      return { changes: Number(changes) };
    });
  }

  get<T = SqlRow>(sql: string, ...params: SqlParam[]): T | undefined {
    return this.#guard(() => this.statement(sql).get(...params) as T | undefined);
  }

  all<T = SqlRow>(sql: string, ...params: SqlParam[]): T[] {
    return this.#guard(() => this.statement(sql).all(...params) as T[]);
  }

  exec(sql: string): void {
    this.#guard(() => this.#db.exec(sql));
  }

  /**
   * Runs `work` in a `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so two
   * connections never both read and then race to write (a deferred transaction would fail with
   * SQLITE_BUSY on upgrade instead of waiting). `work` must be synchronous: nothing else can run
   * on this connection while it holds the transaction.
   */
  transaction<T>(work: () => T): T {
    this.run('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.run('COMMIT');
      return result;
    } catch (err) {
      if (this.#db.isTransaction) {
        try {
          this.statement('ROLLBACK').run();
        } catch {
          // The error that stopped the transaction says more than a failed rollback.
        }
      }
      throw err;
    }
  }

  /**
   * Proves the file can be written now, so a read-only mount or file fails at start rather than at
   * the first write a user makes. Writes the header's user_version to its own value. A full disk
   * is not a reason to refuse: reads still work, it is remembered for `health()`, and each write
   * fails with STORAGE_FULL until space is freed.
   * @throws FaasError STORAGE_READ_ONLY, STORAGE_UNAVAILABLE
   */
  probeWrite(): void {
    try {
      this.transaction(() => {
        const version = this.get<{ user_version: number }>('PRAGMA user_version')?.user_version ?? 0;
        this.exec(`PRAGMA user_version = ${Math.trunc(version)}`);
      });
    } catch (err) {
      if (!(isStorageError(err) && err.code === ErrorCode.STORAGE_FULL)) throw err;
    }
  }

  /** Whether the file answers a read, and no call failed on the storage lately. Never throws. */
  health(): BackendHealth {
    try {
      this.get('SELECT 1');
    } catch (err) {
      if (!isStorageError(err)) {
        return { ok: false, code: ErrorCode.STORAGE_UNAVAILABLE, reason: (err as Error).message };
      }
    }
    return this.#failures.health();
  }

  /** Runs a call on the connection, turning storage failures into FaasErrors and remembering them. */
  #guard<T>(call: () => T): T {
    try {
      return call();
    } catch (err) {
      const mapped = toStorageError(err, this.backend, this.path);
      if (isStorageError(mapped)) this.#failures.note(mapped);
      throw mapped;
    }
  }

  /**
   * Stops the checkpoint thread and waits until its connection is closed: a close that did not
   * wait left that connection open past it, so another process opening the file at once could
   * find it locked.
   */
  async stopCheckpoints(): Promise<void> {
    const checkpointer = this.#checkpointer;
    this.#checkpointer = undefined;
    await checkpointer?.stop();
  }

  /** Closes the connection; a checkpoint thread is told to stop first (it closes its own). */
  close(): void {
    void this.#checkpointer?.stop();
    this.#checkpointer = undefined;
    if (!this.#db.isOpen) return;
    this.#statements.clear();
    this.#db.close();
  }
}
