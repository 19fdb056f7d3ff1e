import {
  DEFAULT_PROJECT,
  ErrorCode,
  FaasError,
  type Invocation,
  type InvocationFilter,
  type InvocationPatch,
  type NewLogLine,
  type Page,
  type PageRequest,
  quotaExceeded,
  type StoredLogLine,
} from '@faas/core';
import {
  INVOCATION_COLUMNS,
  type InvocationRow,
  invocationValues,
  LOG_COLUMNS,
  type LogRow,
  listColumns,
  patchColumns,
  tailLimit,
  toInvocation,
  toLogLine,
  toMs,
  UNFINISHED,
  UNFINISHED_OF_PROJECT,
} from '../invocation-rows.ts';
import { decodeCursor, pageLimit, toPage } from '../page-cursor.ts';
import { cursorInt, floorInt } from './bigint-params.ts';
import { logArrays, logLinesFrom } from './log-lines.ts';
import type { PostgresDatabase, SqlValue } from './postgres-database.ts';

/** Each column's array type, for inserting many rows from one array per column (unnest). */
const COLUMN_TYPES: Record<(typeof INVOCATION_COLUMNS)[number], string> = {
  id: 'text',
  function_name: 'text',
  version: 'bigint',
  mode: 'text',
  trigger_kind: 'text',
  status: 'text',
  idempotency_key: 'text',
  idempotency_hash: 'text',
  attempts: 'bigint',
  result: 'text',
  error: 'text',
  created_at: 'text',
  created_ms: 'bigint',
  started_at: 'text',
  finished_at: 'text',
  duration_ms: 'float8',
  cpu_time_ms: 'float8',
  peak_memory_bytes: 'float8',
  trace_id: 'text',
  project: 'text',
  cold_start: 'bool',
};
const COLUMNS = INVOCATION_COLUMNS.join(', ');
const INSERT_ONE = `INSERT INTO invocations (${COLUMNS})
  VALUES (${INVOCATION_COLUMNS.map((c, i) => `$${i + 1}::${COLUMN_TYPES[c]}`).join(', ')})
  ON CONFLICT DO NOTHING RETURNING *`;
/**
 * INSERT_ONE only while the project has fewer than its quota of invocations queued or running
 * (the last two placeholders: the project, the quota), and in the same statement the count it saw
 * (`unfinished`), so a row that is not inserted says whether the quota or a conflict stopped it.
 * The count's row is locked: a project's writers take turns and each sees the one before.
 */
const N = INVOCATION_COLUMNS.length;
const INSERT_ONE_WITHIN_QUOTA = `WITH counted AS (${UNFINISHED_OF_PROJECT(`$${N + 1}`, ' FOR UPDATE')}),
  inserted AS (INSERT INTO invocations (${COLUMNS})
    SELECT ${INVOCATION_COLUMNS.map((c, i) => `$${i + 1}::${COLUMN_TYPES[c]}`).join(', ')}
    WHERE (SELECT n FROM counted) < $${N + 2}
    ON CONFLICT DO NOTHING RETURNING *)
  SELECT inserted.*, counted.n AS unfinished FROM counted LEFT JOIN inserted ON true`;
/** Any number of rows in one statement and one round trip: one array parameter per column. */
const INSERT_MANY = `INSERT INTO invocations (${COLUMNS})
  SELECT * FROM unnest(${INVOCATION_COLUMNS.map((c, i) => `$${i + 1}::${COLUMN_TYPES[c]}[]`).join(', ')})
  ON CONFLICT DO NOTHING`;
const INSERT_LOGS = `INSERT INTO logs (invocation_id, function_name, ts, level, message) ${logLinesFrom(1)}`;

/** Invocations and their log lines. */
export class InvocationQueries {
  #db: PostgresDatabase;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  /**
   * One statement when the invocation is new. On a conflict (its id, or its function's
   * idempotency key, is taken) the row that holds it is read by a second statement: a read in the
   * same statement would not see a row another transaction committed meanwhile.
   */
  async create(
    invocation: Invocation,
    maxQueued?: number,
  ): Promise<{ invocation: Invocation; created: boolean }> {
    const values = invocationValues(invocation);
    for (let tries = 0; tries < 3; tries++) {
      let full = false;
      if (maxQueued === undefined) {
        const [inserted] = await this.#db.rows<InvocationRow>(INSERT_ONE, values);
        if (inserted) return { invocation: toInvocation(inserted), created: true };
      } else {
        const [row] = await this.#db.rows<InvocationRow & { unfinished: string | number }>(
          INSERT_ONE_WITHIN_QUOTA,
          [...values, invocation.project ?? DEFAULT_PROJECT, maxQueued],
        );
        if (row?.id) {
          const { unfinished: _count, ...inserted } = row;
          return { invocation: toInvocation(inserted), created: true };
        }
        full = Number(row?.unfinished) >= maxQueued;
      }
      const [existing] =
        invocation.idempotencyKey === undefined
          ? await this.#db.rows<InvocationRow>('SELECT * FROM invocations WHERE id = $1', [invocation.id])
          : await this.#db.rows<InvocationRow>(
              `SELECT * FROM invocations WHERE (function_name = $1 AND idempotency_key = $2) OR id = $3
                ORDER BY (function_name = $1 AND idempotency_key = $2) IS TRUE DESC LIMIT 1`,
              [invocation.functionName, invocation.idempotencyKey, invocation.id],
            );
      // A repeat of an accepted one is answered however full the quota is.
      if (existing) return { invocation: toInvocation(existing), created: false };
      if (full)
        throw quotaExceeded('queuedInvocations', maxQueued as number, 'async invocations queued or running');
      // Gone between the two statements (retention): try the insert again.
    }
    throw new FaasError(
      ErrorCode.CONFLICT,
      `Invocation "${invocation.id}" kept changing while it was created`,
      {
        details: { id: invocation.id },
      },
    );
  }

  /**
   * One statement, so one round trip for a whole batch of sync records with their lines: the
   * invocations from one array per column; the lines of those inserted (or of invocations not in
   * the batch), so a retried batch writes nothing twice (see MetadataStore.createInvocations).
   */
  async createMany(invocations: Invocation[], logs: NewLogLine[]): Promise<void> {
    if (invocations.length === 0) {
      await this.appendLogs(logs);
      return;
    }
    const columns: SqlValue[][] = INVOCATION_COLUMNS.map(() => []);
    for (const inv of invocations) {
      invocationValues(inv).forEach((value, i) => {
        (columns[i] as SqlValue[]).push(value);
      });
    }
    if (logs.length === 0) {
      await this.#db.count(INSERT_MANY, columns as SqlValue[]);
      return;
    }
    const first = columns.length + 1;
    await this.#db.count(
      `WITH inserted AS (${INSERT_MANY} RETURNING id),
        lines AS (INSERT INTO logs (invocation_id, function_name, ts, level, message)
          ${logLinesFrom(first, {
            where: `u.invocation_id IN (SELECT id FROM inserted) OR u.invocation_id <> ALL ($${first + 5}::text[])`,
          })})
        SELECT 1`,
      [...(columns as SqlValue[]), ...logArrays(logs), invocations.map((inv) => inv.id)],
    );
  }

  async update(id: string, patch: InvocationPatch): Promise<Invocation> {
    const columns = patchColumns(patch);
    const [row] =
      columns.length === 0
        ? await this.#db.rows<InvocationRow>('SELECT * FROM invocations WHERE id = $1', [id])
        : await this.#db.rows<InvocationRow>(
            `UPDATE invocations SET ${columns.map(([column], i) => `${column} = $${i + 2}`).join(', ')}
              WHERE id = $1 RETURNING *`,
            [id, ...columns.map(([, value]) => value)],
          );
    if (!row) {
      throw new FaasError(ErrorCode.INVOCATION_NOT_FOUND, `Invocation "${id}" not found`, {
        details: { id },
      });
    }
    return toInvocation(row);
  }

  /**
   * The fenced write of an attempt (see MetadataStore.recordAttempt) in one statement: the
   * conditional update decides, and the log lines are inserted only when it updated a row.
   * Of two writers of one invocation, the second waits for the first's row lock and then sees
   * its status, so exactly one lands.
   */
  async recordAttempt(
    id: string,
    attempt: number,
    patch: Omit<InvocationPatch, 'attempts'>,
    logs: NewLogLine[],
  ): Promise<Invocation | undefined> {
    const columns = patchColumns({ ...patch, attempts: attempt });
    const params: SqlValue[] = [id, floorInt(attempt), ...columns.map(([, value]) => value)];
    const sets = columns.map(([column], i) => `${column} = $${i + 3}`).join(', ');
    const update = `UPDATE invocations SET ${sets}
      WHERE id = $1 AND attempts <= $2 AND status IN (${UNFINISHED}) RETURNING *`;
    if (logs.length === 0) {
      const [row] = await this.#db.rows<InvocationRow>(update, params);
      return row && toInvocation(row);
    }
    const first = params.length + 1;
    const [row] = await this.#db.rows<InvocationRow>(
      `WITH updated AS (${update}),
        lines AS (INSERT INTO logs (invocation_id, function_name, ts, level, message)
          ${logLinesFrom(first, { gate: 'updated' })})
        SELECT * FROM updated`,
      [...params, ...logArrays(logs)],
    );
    return row && toInvocation(row);
  }

  /** See MetadataStore.releaseIdempotencyKey. */
  async releaseIdempotencyKey(id: string): Promise<boolean> {
    const rows = await this.#db.rows<{ id: string }>(
      `UPDATE invocations SET idempotency_key = NULL, idempotency_hash = NULL
        WHERE id = $1 AND mode = 'async' AND status = 'failed' AND attempts = 0
          AND idempotency_key IS NOT NULL RETURNING id`,
      [id],
    );
    return rows.length > 0;
  }

  async get(id: string): Promise<Invocation | undefined> {
    const [row] = await this.#db.rows<InvocationRow>('SELECT * FROM invocations WHERE id = $1', [id]);
    return row && toInvocation(row);
  }

  async list(filter: InvocationFilter, page: PageRequest): Promise<Page<Invocation>> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    const param = (value: SqlValue) => {
      params.push(value);
      return `$${params.length}`;
    };
    if (filter.project !== undefined) where.push(`project = ${param(filter.project)}`);
    if (filter.functionName !== undefined) where.push(`function_name = ${param(filter.functionName)}`);
    if (filter.status !== undefined) {
      where.push(`status = ${param(filter.status)}`);
      // The partial status index's own term, so the planner uses it whatever the parameter.
      if (filter.status !== 'succeeded') where.push("status <> 'succeeded'");
    }
    if (filter.since !== undefined) where.push(`created_ms >= ${param(toMs(filter.since, 'since'))}`);
    if (filter.until !== undefined) where.push(`created_ms < ${param(toMs(filter.until, 'until'))}`);
    if (page.cursor) {
      const [ms, id] = decodeCursor(page.cursor, ['number', 'string']) as [number, string];
      where.push(`(created_ms, id) < (${param(cursorInt(ms, page.cursor))}, ${param(id)})`);
    }
    const limit = pageLimit(page);
    const rows = await this.#db.rows<InvocationRow>(
      `SELECT ${listColumns((column) => `octet_length(${column})`)} FROM invocations
        ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY created_ms DESC, id DESC LIMIT ${param(limit + 1)}`,
      params,
    );
    const cut = toPage(rows, limit, (r) => [r.created_ms, r.id]);
    return { ...cut, items: cut.items.map(toInvocation) };
  }

  /** See MetadataStore.deleteOldInvocations: one transaction, at most `limit` rows of each kind. */
  deleteOld(options: { createdBefore?: string; keepNewest?: number; limit: number }): Promise<{
    invocations: number;
    logLines: number;
  }> {
    const limit = Math.max(0, Math.trunc(options.limit));
    const before =
      options.createdBefore === undefined ? undefined : toMs(options.createdBefore, 'createdBefore');
    const keep = options.keepNewest === undefined ? undefined : Math.max(0, Math.trunc(options.keepNewest));
    const none = { invocations: 0, logLines: 0 };
    if (limit === 0 || (before === undefined && keep === undefined)) return Promise.resolve(none);
    return this.#db.transaction(async (sql) => {
      const terms: string[] = [];
      const params: SqlValue[] = [];
      if (before !== undefined) {
        params.push(before);
        terms.push(`created_ms < $${params.length}`);
      }
      if (keep !== undefined) {
        // The newest invocation past the cap: it and everything older is over it.
        const [edge] = await sql.rows<{ created_ms: number; id: string }>(
          'SELECT created_ms, id FROM invocations ORDER BY created_ms DESC, id DESC LIMIT 1 OFFSET $1',
          [Math.min(keep, Number.MAX_SAFE_INTEGER)],
        );
        if (edge) {
          params.push(edge.created_ms, edge.id);
          terms.push(`(created_ms, id) <= ($${params.length - 1}, $${params.length})`);
        }
      }
      if (terms.length === 0) return none;
      const ids = (
        await sql.rows<{ id: string }>(
          `SELECT id FROM invocations WHERE status NOT IN (${UNFINISHED}) AND (${terms.join(' OR ')})
            ORDER BY created_ms, id LIMIT $${params.length + 1}`,
          [...params, limit],
        )
      ).map((r) => r.id);
      if (ids.length === 0) return none;
      const logLines = await sql.count(
        'DELETE FROM logs WHERE seq IN (SELECT seq FROM logs WHERE invocation_id = ANY($1::text[]) LIMIT $2)',
        [ids, limit],
      );
      // An invocation goes with its last lines: one whose lines are not all gone waits for the next call.
      const invocations = await sql.count(
        `DELETE FROM invocations WHERE id = ANY($1::text[])
          AND NOT EXISTS (SELECT 1 FROM logs WHERE logs.invocation_id = invocations.id)`,
        [ids],
      );
      return { invocations, logLines };
    });
  }

  async appendLogs(lines: NewLogLine[]): Promise<void> {
    if (lines.length === 0) return;
    await this.#db.count(INSERT_LOGS, logArrays(lines));
  }

  async getLogs(invocationId: string): Promise<StoredLogLine[]> {
    const rows = await this.#db.rows<LogRow>(
      `SELECT ${LOG_COLUMNS} FROM logs WHERE invocation_id = $1 ORDER BY seq`,
      [invocationId],
    );
    return rows.map(toLogLine);
  }

  async tailLogs(options: {
    functionName?: string;
    project?: string;
    afterSeq: number;
    limit?: number;
  }): Promise<StoredLogLine[]> {
    const params: SqlValue[] = [floorInt(options.afterSeq)];
    const where = ['seq > $1'];
    if (options.functionName !== undefined) {
      params.push(options.functionName);
      where.push(`function_name = $${params.length}`);
    }
    if (options.project !== undefined) {
      // By the invocation's project, not the function's: a name may have changed hands since.
      params.push(options.project);
      where.push(`invocation_id IN (SELECT id FROM invocations WHERE project = $${params.length})`);
    }
    params.push(tailLimit(options.limit));
    const rows = await this.#db.rows<LogRow>(
      `SELECT ${LOG_COLUMNS} FROM logs WHERE ${where.join(' AND ')} ORDER BY seq LIMIT $${params.length}`,
      params,
    );
    return rows.map(toLogLine);
  }
}
