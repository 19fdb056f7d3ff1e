import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';

/** How long a connection waits for another one's write lock before failing with SQLITE_BUSY. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

export type SqlParam = SQLInputValue;
export type SqlRow = Record<string, SQLInputValue>;

/**
 * One `node:sqlite` connection tuned for a server: WAL (readers never block the writer, and the
 * store and queue can share one file through separate connections), `synchronous=NORMAL` (a commit
 * survives a killed process; only an OS crash can lose the last commits), and a busy timeout so
 * concurrent writers queue up instead of failing. Prepared statements are cached by their SQL.
 */
export class SqliteDatabase {
  readonly path: string;
  #db: DatabaseSync;
  #statements = new Map<string, StatementSync>();

  constructor(path: string, busyTimeoutMs = DEFAULT_BUSY_TIMEOUT_MS) {
    if (path !== ':memory:' && !path.startsWith('file:')) mkdirSync(dirname(path), { recursive: true });
    this.path = path;
    this.#db = new DatabaseSync(path, { timeout: busyTimeoutMs, enableForeignKeyConstraints: true });
    this.#db.exec('PRAGMA journal_mode = WAL');
    this.#db.exec('PRAGMA synchronous = NORMAL');
    this.#db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.trunc(busyTimeoutMs))}`);
  }

  get isOpen(): boolean {
    return this.#db.isOpen;
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
    const { changes } = this.statement(sql).run(...params);
    return { changes: Number(changes) };
  }

  get<T = SqlRow>(sql: string, ...params: SqlParam[]): T | undefined {
    return this.statement(sql).get(...params) as T | undefined;
  }

  all<T = SqlRow>(sql: string, ...params: SqlParam[]): T[] {
    return this.statement(sql).all(...params) as T[];
  }

  exec(sql: string): void {
    this.#db.exec(sql);
  }

  /**
   * Runs `work` in a `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so two
   * connections never both read and then race to write (a deferred transaction would fail with
   * SQLITE_BUSY on upgrade instead of waiting). `work` must be synchronous: nothing else can run
   * on this connection while it holds the transaction.
   */
  transaction<T>(work: () => T): T {
    this.statement('BEGIN IMMEDIATE').run();
    try {
      const result = work();
      this.statement('COMMIT').run();
      return result;
    } catch (err) {
      if (this.#db.isTransaction) this.statement('ROLLBACK').run();
      throw err;
    }
  }

  close(): void {
    if (!this.#db.isOpen) return;
    this.#statements.clear();
    this.#db.close();
  }
}
