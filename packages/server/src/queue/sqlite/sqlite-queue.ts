import { randomUUID } from 'node:crypto';
import {
  type BackendHealth,
  type DeadJob,
  type DeadPosition,
  ErrorCode,
  FaasError,
  type FailOutcome,
  type LeasedJob,
  type LeaseRef,
  type NewJob,
  type Queue,
  type QueueStats,
  type RetryPolicy,
} from '@faas/core';
import { applyMigrations, loadMigrations, type Migration } from '../../sqlite/migrations.ts';
import { SqliteDatabase } from '../../sqlite/sqlite-database.ts';
import { backoffDelayMs } from '../backoff.ts';

export interface SqliteQueueOptions {
  /** Database file (it may be the store's: the queue opens its own connection), or `:memory:`. */
  path: string;
  retry: RetryPolicy;
  /** Fraction of each backoff delay taken off at random. @default 0.1 */
  jitterRatio?: number;
  /** How long a write waits for another connection's lock. @default 5000 */
  busyTimeoutMs?: number;
  /**
   * `off`: this connection's commits never checkpoint the WAL, another connection to the file
   * does (the server's store, on a thread of its own). @default 'auto' (SQLite's own)
   */
  walCheckpoints?: 'auto' | 'off';
  /** The clock, in ms since epoch. @default Date.now */
  now?: () => number;
}

interface JobRow {
  seq: number;
  id: string;
  payload: string | null;
  attempt: number;
  max_attempts: number;
}

interface TurnRow extends JobRow {
  turn: number;
}

const MIGRATIONS: Migration[] = loadMigrations(new URL('./migrations/', import.meta.url));
const DEFAULT_JITTER_RATIO = 0.1;
/** Due jobs given their turn per `lease` call, at most: a backlog of any size is turned a batch at a time. */
const TURNS_PER_LEASE = 1_000;

/**
 * The embedded Queue: one row per job in a SQLite table, every operation one transaction, so a
 * job enqueued, failed or leased is on disk when the call returns and survives a killed process.
 * Leasing takes SQLite's write lock for the select-and-mark, so two consumers (connections or
 * processes) never lease the same job. Every call naming a lease matches its token in the same
 * statement that changes the row: the fence is the row itself. Groups take turns (migrations/004):
 * a job due gets its group's next turn, and jobs are leased by turn.
 */
export class SqliteQueue implements Queue {
  #db: SqliteDatabase;
  #retry: RetryPolicy;
  #jitterRatio: number;
  #now: () => number;

  constructor(options: SqliteQueueOptions) {
    this.#db = new SqliteDatabase(options.path, options.busyTimeoutMs, 'queue');
    if (options.walCheckpoints === 'off') this.#db.disableAutoCheckpoint();
    this.#retry = options.retry;
    this.#jitterRatio = options.jitterRatio ?? DEFAULT_JITTER_RATIO;
    this.#now = options.now ?? Date.now;
  }

  /** Creates or upgrades the schema, then proves the file can be written. */
  async migrate(): Promise<void> {
    applyMigrations(this.#db, 'queue', MIGRATIONS);
    this.#db.probeWrite();
  }

  async enqueue(job: NewJob): Promise<{ duplicate: boolean }> {
    if (!Number.isInteger(job.maxAttempts) || job.maxAttempts < 1) {
      throw new FaasError(
        ErrorCode.VALIDATION,
        `maxAttempts must be a whole number ≥ 1, got ${job.maxAttempts}`,
        {
          details: { id: job.id, maxAttempts: job.maxAttempts },
        },
      );
    }
    const now = this.#now();
    const dueAt = job.runAt ?? now;
    const group = job.group ?? '';
    // A job due now gets its turn with it, whatever else waits for one; one due later gets it
    // from the first `lease` after it comes due.
    const due = dueAt <= now;
    return this.#db.transaction(() => {
      const turn = due ? this.#nextTurn(group) : null;
      const { changes } = this.#db.run(
        `INSERT INTO queue_jobs (id, payload, state, attempt, max_attempts, budget, visible_at, enqueued_at, grp, turn)
          VALUES (?, ?, 'ready', 0, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
        job.id,
        job.payload === undefined ? null : JSON.stringify(job.payload),
        job.maxAttempts,
        job.maxAttempts,
        dueAt,
        now,
        group,
        turn,
      );
      if (changes === 0) return { duplicate: true };
      if (turn !== null) this.#tookTurn(group, turn);
      return { duplicate: false };
    });
  }

  async lease(options: { limit: number; visibilityTimeoutMs: number }): Promise<LeasedJob[]> {
    const limit = Math.trunc(options.limit);
    if (limit < 1) return [];
    const now = this.#now();
    // An idle poll only reads: no write lock, nothing written to the WAL.
    if (!this.#db.get("SELECT 1 FROM queue_jobs WHERE state <> 'dead' AND visible_at <= ? LIMIT 1", now))
      return [];
    const leaseExpiresAt = now + Math.max(0, options.visibilityTimeoutMs);
    return this.#db.transaction(() => {
      // A lease that ran out on the last allowed attempt, started, is not delivered again (a job
      // that kills its consumer would otherwise come back forever): it is dead-lettered here. One
      // that ran out before its attempt started is delivered again as the same attempt. (`state
      // <> 'dead'` lets SQLite take the due index: without it, every lease read the whole table.)
      this.#db.run(
        `UPDATE queue_jobs SET state = 'dead', dead_at = ?, lease_token = NULL, started = 0, turn = NULL,
          last_error = 'Lease expired on attempt ' || attempt || ' of ' || max_attempts || ': the consumer stopped or ran past its lease'
          WHERE state <> 'dead' AND visible_at <= ? AND state = 'leased' AND started = 1 AND attempt >= max_attempts`,
        now,
        now,
      );
      this.#giveTurns(now);
      const rows = this.#db.all<TurnRow>(
        `SELECT seq, id, payload, attempt, max_attempts, turn FROM queue_jobs
          WHERE turn IS NOT NULL ORDER BY turn, seq LIMIT ?`,
        limit,
      );
      const last = rows.at(-1);
      if (last) this.#advanceClock(last.turn);
      return rows.map((row): LeasedJob => {
        const leaseToken = randomUUID();
        this.#db.run(
          "UPDATE queue_jobs SET state = 'leased', started = 0, lease_token = ?, visible_at = ?, turn = NULL WHERE seq = ?",
          leaseToken,
          leaseExpiresAt,
          row.seq,
        );
        return {
          id: row.id,
          payload: row.payload === null ? undefined : JSON.parse(row.payload),
          attempt: row.attempt + 1,
          maxAttempts: row.max_attempts,
          leaseToken,
          leaseExpiresAt,
        };
      });
    });
  }

  /**
   * Gives the jobs due without a turn (due at last, handed back, or under a lease that ran out)
   * their group's next turns, in the order they became due.
   */
  #giveTurns(now: number): void {
    const due = this.#db.all<{ seq: number; grp: string }>(
      `SELECT seq, grp FROM queue_jobs WHERE turn IS NULL AND state <> 'dead' AND visible_at <= ?
        ORDER BY visible_at, seq LIMIT ?`,
      now,
      TURNS_PER_LEASE,
    );
    for (const { seq, grp } of due) {
      const turn = this.#nextTurn(grp);
      this.#db.run('UPDATE queue_jobs SET turn = ? WHERE seq = ?', turn, seq);
      this.#tookTurn(grp, turn);
    }
  }

  /**
   * The group's next turn: one past its last, and never before the clock (the turn last leased),
   * so a group joins the rotation where it stands rather than ahead of it for the turns it did
   * not use.
   */
  #nextTurn(group: string): number {
    const row = this.#db.get<{ clock: number; last: number | null }>(
      `SELECT (SELECT turn FROM queue_clock WHERE id = 1) AS clock,
        (SELECT last_turn FROM queue_groups WHERE grp = ?) AS last`,
      group,
    );
    const clock = row?.clock ?? 0;
    return row?.last == null ? clock : Math.max(clock, row.last + 1);
  }

  #tookTurn(group: string, turn: number): void {
    this.#db.run(
      `INSERT INTO queue_groups (grp, last_turn) VALUES (?, ?)
        ON CONFLICT (grp) DO UPDATE SET last_turn = excluded.last_turn`,
      group,
      turn,
    );
  }

  /** Moves the clock to the turn last leased; a group whose last turn it passed is forgotten (it would start at the clock anyway). */
  #advanceClock(turn: number): void {
    this.#db.run('UPDATE queue_clock SET turn = ? WHERE id = 1 AND turn < ?', turn, turn);
    this.#db.run('DELETE FROM queue_groups WHERE last_turn < ?', turn);
  }

  async start(id: string, leaseToken: string): Promise<boolean> {
    const now = this.#now();
    return this.#db.transaction(() => {
      const row = this.#db.get<{ started: number; visible_at: number }>(
        "SELECT started, visible_at FROM queue_jobs WHERE id = ? AND lease_token = ? AND state = 'leased'",
        id,
        leaseToken,
      );
      if (!row) return false;
      if (row.started === 1) return true;
      // A lease that ran out may be taken by the next `lease` call of anyone: too late to start.
      if (row.visible_at <= now) return false;
      this.#db.run('UPDATE queue_jobs SET attempt = attempt + 1, started = 1 WHERE id = ?', id);
      return true;
    });
  }

  async ack(id: string, leaseToken: string): Promise<boolean> {
    const { changes } = this.#db.run(
      "DELETE FROM queue_jobs WHERE id = ? AND lease_token = ? AND state = 'leased'",
      id,
      leaseToken,
    );
    return changes > 0;
  }

  async fail(
    id: string,
    leaseToken: string,
    options: { error: string; retryable?: boolean },
  ): Promise<FailOutcome> {
    const now = this.#now();
    return this.#db.transaction((): FailOutcome => {
      const row = this.#db.get<{ attempt: number; started: number; max_attempts: number }>(
        "SELECT attempt, started, max_attempts FROM queue_jobs WHERE id = ? AND lease_token = ? AND state = 'leased'",
        id,
        leaseToken,
      );
      if (!row) return { outcome: 'lease_lost' };
      // A failure before the attempt started (the job could not even be set up) still counts.
      const attempts = row.started === 1 ? row.attempt : row.attempt + 1;
      if (options.retryable === false || attempts >= row.max_attempts) {
        this.#db.run(
          `UPDATE queue_jobs SET state = 'dead', dead_at = ?, lease_token = NULL, started = 0, turn = NULL,
            attempt = ?, last_error = ? WHERE id = ?`,
          now,
          attempts,
          options.error,
          id,
        );
        return { outcome: 'dead_lettered' };
      }
      const runAt = now + backoffDelayMs(this.#retry, attempts, this.#jitterRatio);
      this.#db.run(
        `UPDATE queue_jobs SET state = 'ready', visible_at = ?, lease_token = NULL, started = 0, turn = NULL,
          attempt = ?, last_error = ? WHERE id = ?`,
        runAt,
        attempts,
        options.error,
        id,
      );
      return { outcome: 'retrying', runAt };
    });
  }

  async release(id: string, leaseToken: string, options: { runAt?: number } = {}): Promise<boolean> {
    const { changes } = this.#db.run(
      `UPDATE queue_jobs SET state = 'ready', visible_at = ?, lease_token = NULL, started = 0, turn = NULL
        WHERE id = ? AND lease_token = ? AND state = 'leased'`,
      options.runAt ?? this.#now(),
      id,
      leaseToken,
    );
    return changes > 0;
  }

  async extend(id: string, leaseToken: string, visibilityTimeoutMs: number): Promise<boolean> {
    return (await this.extendMany([{ id, leaseToken }], visibilityTimeoutMs)).length === 0;
  }

  async extendMany(leases: readonly LeaseRef[], visibilityTimeoutMs: number): Promise<string[]> {
    if (leases.length === 0) return [];
    const visibleAt = this.#now() + Math.max(0, visibilityTimeoutMs);
    return this.#db.transaction(() => {
      const lost: string[] = [];
      for (const { id, leaseToken } of leases) {
        const { changes } = this.#db.run(
          // A lease that ran out may have its next turn already: renewed, it is held again.
          "UPDATE queue_jobs SET visible_at = ?, turn = NULL WHERE id = ? AND lease_token = ? AND state = 'leased'",
          visibleAt,
          id,
          leaseToken,
        );
        if (changes === 0) lost.push(id);
      }
      return lost;
    });
  }

  /**
   * Makes every lease in the file due now. Only for a caller that knows all their holders are
   * gone: a server that just took its data dir's lock (the previous one crashed holding them).
   * Their jobs come back at once instead of when the leases run out, as started or unstarted
   * attempts alike would anyway. Returns how many.
   */
  async expireLeases(): Promise<number> {
    const now = this.#now();
    return this.#db.run(
      "UPDATE queue_jobs SET visible_at = ? WHERE state = 'leased' AND visible_at > ?",
      now,
      now,
    ).changes;
  }

  async requeueDead(id: string, options: { visibilityTimeoutMs: number }): Promise<LeasedJob | undefined> {
    const leaseToken = randomUUID();
    const leaseExpiresAt = this.#now() + Math.max(0, options.visibilityTimeoutMs);
    const row = this.#db.get<JobRow>(
      `UPDATE queue_jobs SET state = 'leased', started = 0, lease_token = ?, visible_at = ?,
        max_attempts = attempt + budget, dead_at = NULL
        WHERE id = ? AND state = 'dead' RETURNING seq, id, payload, attempt, max_attempts`,
      leaseToken,
      leaseExpiresAt,
      id,
    );
    if (!row) return undefined;
    return {
      id: row.id,
      payload: row.payload === null ? undefined : JSON.parse(row.payload),
      attempt: row.attempt + 1,
      maxAttempts: row.max_attempts,
      leaseToken,
      leaseExpiresAt,
    };
  }

  async has(id: string): Promise<boolean> {
    return this.#db.get('SELECT 1 FROM queue_jobs WHERE id = ?', id) !== undefined;
  }

  async listDead(
    limit: number,
  ): Promise<Array<{ id: string; payload: unknown; error: string; attempts: number }>> {
    const rows = this.#db.all<{
      id: string;
      payload: string | null;
      last_error: string | null;
      attempt: number;
    }>(
      "SELECT id, payload, last_error, attempt FROM queue_jobs WHERE state = 'dead' ORDER BY dead_at DESC, seq DESC LIMIT ?",
      Math.max(0, Math.trunc(limit)),
    );
    return rows.map((r) => ({
      id: r.id,
      payload: r.payload === null ? undefined : JSON.parse(r.payload),
      error: r.last_error ?? '',
      attempts: r.attempt,
    }));
  }

  /** `tiebreak` is the job's `seq`: the index on dead jobs orders them by (dead_at, seq). */
  async listDeadAfter(position: DeadPosition, limit: number): Promise<DeadJob[]> {
    const seq = position.tiebreak === undefined ? -1 : Number(position.tiebreak);
    const rows = this.#db.all<{
      id: string;
      payload: string | null;
      last_error: string | null;
      attempt: number;
      dead_at: number;
      seq: number;
    }>(
      `SELECT id, payload, last_error, attempt, dead_at, seq FROM queue_jobs
        WHERE state = 'dead' AND (dead_at, seq) > (?, ?) ORDER BY dead_at, seq LIMIT ?`,
      Math.trunc(position.deadAt),
      Number.isFinite(seq) ? seq : -1,
      Math.max(0, Math.trunc(limit)),
    );
    return rows.map((r) => ({
      id: r.id,
      payload: r.payload === null ? undefined : JSON.parse(r.payload),
      error: r.last_error ?? '',
      attempts: r.attempt,
      deadAt: r.dead_at,
      tiebreak: String(r.seq),
    }));
  }

  async deleteDead(options: { deadBefore: number; limit: number }): Promise<number> {
    return this.#db.run(
      `DELETE FROM queue_jobs WHERE seq IN
        (SELECT seq FROM queue_jobs WHERE state = 'dead' AND dead_at < ? ORDER BY dead_at, seq LIMIT ?)`,
      options.deadBefore,
      Math.max(0, Math.trunc(options.limit)),
    ).changes;
  }

  /** An expired lease counts as ready: its job is deliverable again. */
  async stats(): Promise<QueueStats> {
    const now = this.#now();
    const row = this.#db.get<{
      ready: number | null;
      delayed: number | null;
      leased: number | null;
      dead: number | null;
    }>(
      `SELECT
        sum(state = 'ready' OR (state = 'leased' AND visible_at <= ?)) AS ready,
        sum(state = 'ready' AND visible_at > ?) AS delayed,
        sum(state = 'leased' AND visible_at > ?) AS leased,
        sum(state = 'dead') AS dead
        FROM queue_jobs`,
      now,
      now,
      now,
    );
    return {
      ready: row?.ready ?? 0,
      delayed: row?.delayed ?? 0,
      leased: row?.leased ?? 0,
      deadLettered: row?.dead ?? 0,
    };
  }

  /** Jobs under a live lease are not waiting; an expired lease is due now. */
  async nextDueInMs(): Promise<number | undefined> {
    const now = this.#now();
    const rows = this.#db
      .statement("SELECT state, visible_at FROM queue_jobs WHERE state <> 'dead' ORDER BY visible_at, seq")
      .iterate() as Iterator<{ state: string; visible_at: number }>;
    try {
      for (let next = rows.next(); !next.done; next = rows.next()) {
        const { state, visible_at: visibleAt } = next.value;
        if (visibleAt <= now) return 0;
        if (state === 'ready') return visibleAt - now;
      }
      return undefined;
    } finally {
      rows.return?.();
    }
  }

  async oldestDueAgeMs(): Promise<number | undefined> {
    const now = this.#now();
    // First by visible_at: a live lease's is its expiry, later than now, so a first row at or
    // before now is due (waiting, or a lease that ran out).
    const row = this.#db.get<{ visible_at: number }>(
      "SELECT visible_at FROM queue_jobs WHERE state <> 'dead' ORDER BY visible_at, seq LIMIT 1",
    );
    return row && row.visible_at <= now ? now - row.visible_at : undefined;
  }

  async health(): Promise<BackendHealth> {
    return this.#db.health();
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}

/** Opens (creating when missing) and migrates a SQLite queue. */
export async function openSqliteQueue(options: SqliteQueueOptions): Promise<SqliteQueue> {
  const queue = new SqliteQueue(options);
  try {
    await queue.migrate();
  } catch (err) {
    await queue.close();
    throw err;
  }
  return queue;
}
