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
import type { SqliteDatabase, SqlParam } from '../../sqlite/sqlite-database.ts';
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

const INSERT_INVOCATION = `INSERT INTO invocations (${INVOCATION_COLUMNS.join(', ')})
  VALUES (${INVOCATION_COLUMNS.map(() => '?').join(', ')})`;

const COUNT_UNFINISHED = UNFINISHED_OF_PROJECT('?');

const INSERT_INVOCATION_IF_NEW = `${INSERT_INVOCATION} ON CONFLICT DO NOTHING`;

/** Invocations and their log lines. */
export class InvocationQueries {
  #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  /** One transaction (the write lock held throughout): the count of `maxQueued` is exact. */
  create(invocation: Invocation, maxQueued?: number): { invocation: Invocation; created: boolean } {
    return this.#db.transaction(() => {
      const existing =
        (invocation.idempotencyKey !== undefined &&
          this.#db.get<InvocationRow>(
            'SELECT * FROM invocations WHERE function_name = ? AND idempotency_key = ?',
            invocation.functionName,
            invocation.idempotencyKey,
          )) ||
        this.#db.get<InvocationRow>('SELECT * FROM invocations WHERE id = ?', invocation.id);
      if (existing) return { invocation: toInvocation(existing), created: false };
      if (maxQueued !== undefined) {
        const n =
          this.#db.get<{ n: number }>(COUNT_UNFINISHED, invocation.project ?? DEFAULT_PROJECT)?.n ?? 0;
        if (n >= maxQueued)
          throw quotaExceeded('queuedInvocations', maxQueued, 'async invocations queued or running');
      }
      this.#db.run(INSERT_INVOCATION, ...invocationValues(invocation));
      return { invocation: this.get(invocation.id) as Invocation, created: true };
    });
  }

  /**
   * One transaction; an id or idempotency key already present is skipped with its lines, so a
   * retried batch is harmless (see MetadataStore.createInvocations).
   */
  createMany(invocations: Invocation[], logs: NewLogLine[]): void {
    if (invocations.length === 0 && logs.length === 0) return;
    const params = invocations.map(invocationValues);
    this.#db.transaction(() => {
      const skipped = new Set<string>();
      params.forEach((p, i) => {
        if (this.#db.run(INSERT_INVOCATION_IF_NEW, ...p).changes === 0) {
          skipped.add((invocations[i] as Invocation).id);
        }
      });
      this.appendLogs(skipped.size === 0 ? logs : logs.filter((l) => !skipped.has(l.invocationId)));
    });
  }

  update(id: string, patch: InvocationPatch): Invocation {
    const { sets, params } = patchSql(patch);
    const row =
      sets.length === 0
        ? this.#db.get<InvocationRow>('SELECT * FROM invocations WHERE id = ?', id)
        : this.#db.get<InvocationRow>(
            `UPDATE invocations SET ${sets.join(', ')} WHERE id = ? RETURNING *`,
            ...params,
            id,
          );
    if (!row) {
      throw new FaasError(ErrorCode.INVOCATION_NOT_FOUND, `Invocation "${id}" not found`, {
        details: { id },
      });
    }
    return toInvocation(row);
  }

  /** The fenced write of an attempt (see MetadataStore.recordAttempt): one statement decides. */
  recordAttempt(
    id: string,
    attempt: number,
    patch: Omit<InvocationPatch, 'attempts'>,
    logs: NewLogLine[],
  ): Invocation | undefined {
    const { sets, params } = patchSql({ ...patch, attempts: attempt });
    return this.#db.transaction(() => {
      const row = this.#db.get<InvocationRow>(
        `UPDATE invocations SET ${sets.join(', ')}
          WHERE id = ? AND attempts <= ? AND status IN (${UNFINISHED}) RETURNING *`,
        ...params,
        id,
        attempt,
      );
      if (!row) return undefined;
      this.appendLogs(logs);
      return toInvocation(row);
    });
  }

  /** See MetadataStore.releaseIdempotencyKey. */
  releaseIdempotencyKey(id: string): boolean {
    const row = this.#db.get<{ id: string }>(
      `UPDATE invocations SET idempotency_key = NULL, idempotency_hash = NULL
        WHERE id = ? AND mode = 'async' AND status = 'failed' AND attempts = 0
          AND idempotency_key IS NOT NULL RETURNING id`,
      id,
    );
    return row !== undefined;
  }

  get(id: string): Invocation | undefined {
    const row = this.#db.get<InvocationRow>('SELECT * FROM invocations WHERE id = ?', id);
    return row && toInvocation(row);
  }

  list(filter: InvocationFilter, page: PageRequest): Page<Invocation> {
    const where: string[] = [];
    const params: SqlParam[] = [];
    if (filter.project !== undefined) {
      where.push('project = ?');
      params.push(filter.project);
    }
    if (filter.functionName !== undefined) {
      where.push('function_name = ?');
      params.push(filter.functionName);
    }
    if (filter.status !== undefined) {
      where.push('status = ?');
      params.push(filter.status);
      // The term of the partial status index (migration 003), which SQLite must see to use it.
      if (filter.status !== 'succeeded') where.push("status <> 'succeeded'");
    }
    if (filter.since !== undefined) {
      where.push('created_ms >= ?');
      params.push(toMs(filter.since, 'since'));
    }
    if (filter.until !== undefined) {
      where.push('created_ms < ?');
      params.push(toMs(filter.until, 'until'));
    }
    if (page.cursor) {
      where.push('(created_ms, id) < (?, ?)');
      params.push(...(decodeCursor(page.cursor, ['number', 'string']) as [number, string]));
    }
    const limit = pageLimit(page);
    const columns = listColumns((column) => `length(CAST(${column} AS BLOB))`);
    const sql = `SELECT ${columns} FROM invocations ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY created_ms DESC, id DESC LIMIT ?`;
    const rows = this.#db.all<InvocationRow>(sql, ...params, limit + 1);
    const cut = toPage(rows, limit, (r) => [r.created_ms, r.id]);
    return { ...cut, items: cut.items.map(toInvocation) };
  }

  /** See MetadataStore.deleteOldInvocations: one transaction, at most `limit` rows of each kind. */
  deleteOld(options: { createdBefore?: string; keepNewest?: number; limit: number }): {
    invocations: number;
    logLines: number;
  } {
    const limit = Math.max(0, Math.trunc(options.limit));
    const before =
      options.createdBefore === undefined ? undefined : toMs(options.createdBefore, 'createdBefore');
    const keep = options.keepNewest === undefined ? undefined : Math.max(0, Math.trunc(options.keepNewest));
    if (limit === 0 || (before === undefined && keep === undefined)) return { invocations: 0, logLines: 0 };
    return this.#db.transaction(() => {
      const terms: string[] = [];
      const params: SqlParam[] = [];
      if (before !== undefined) {
        terms.push('created_ms < ?');
        params.push(before);
      }
      if (keep !== undefined) {
        // The newest invocation past the cap: it and everything older is over it.
        const edge = this.#db.get<{ created_ms: number; id: string }>(
          'SELECT created_ms, id FROM invocations ORDER BY created_ms DESC, id DESC LIMIT 1 OFFSET ?',
          keep,
        );
        if (edge) {
          terms.push('(created_ms, id) <= (?, ?)');
          params.push(edge.created_ms, edge.id);
        }
      }
      if (terms.length === 0) return { invocations: 0, logLines: 0 };
      const ids = this.#db
        .all<{ id: string }>(
          `SELECT id FROM invocations WHERE status NOT IN (${UNFINISHED}) AND (${terms.join(' OR ')})
            ORDER BY created_ms, id LIMIT ?`,
          ...params,
          limit,
        )
        .map((r) => r.id);
      if (ids.length === 0) return { invocations: 0, logLines: 0 };
      const list = ids.map(() => '?').join(', ');
      const { changes: logLines } = this.#db.run(
        `DELETE FROM logs WHERE seq IN (SELECT seq FROM logs WHERE invocation_id IN (${list}) LIMIT ?)`,
        ...ids,
        limit,
      );
      // An invocation goes with its last lines: one whose lines are not all gone waits for the next call.
      const { changes: invocations } = this.#db.run(
        `DELETE FROM invocations WHERE id IN (${list})
          AND NOT EXISTS (SELECT 1 FROM logs WHERE logs.invocation_id = invocations.id)`,
        ...ids,
      );
      return { invocations, logLines };
    });
  }

  appendLogs(lines: NewLogLine[]): void {
    if (lines.length === 0) return;
    const insert = () => {
      for (const line of lines) {
        this.#db.run(
          'INSERT INTO logs (invocation_id, function_name, ts, level, message) VALUES (?, ?, ?, ?, ?)',
          line.invocationId,
          line.functionName,
          line.ts,
          line.level,
          line.message,
        );
      }
    };
    if (this.#db.inTransaction) insert();
    else this.#db.transaction(insert);
  }

  getLogs(invocationId: string): StoredLogLine[] {
    return this.#db
      .all<LogRow>(`SELECT ${LOG_COLUMNS} FROM logs WHERE invocation_id = ? ORDER BY seq`, invocationId)
      .map(toLogLine);
  }

  tailLogs(options: {
    functionName?: string;
    project?: string;
    afterSeq: number;
    limit?: number;
  }): StoredLogLine[] {
    const where = ['seq > ?'];
    const params: SqlParam[] = [options.afterSeq];
    if (options.functionName !== undefined) {
      where.push('function_name = ?');
      params.push(options.functionName);
    }
    if (options.project !== undefined) {
      // By the invocation's project, not the function's: a name may have changed hands since.
      where.push('invocation_id IN (SELECT id FROM invocations WHERE project = ?)');
      params.push(options.project);
    }
    const rows = this.#db.all<LogRow>(
      `SELECT ${LOG_COLUMNS} FROM logs WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`,
      ...params,
      tailLimit(options.limit),
    );
    return rows.map(toLogLine);
  }
}

/** `SET` terms and their parameters for the fields a patch sets. */
function patchSql(patch: InvocationPatch): { sets: string[]; params: SqlParam[] } {
  const columns = patchColumns(patch);
  return { sets: columns.map(([column]) => `${column} = ?`), params: columns.map(([, value]) => value) };
}
