import {
  DEFAULT_PROJECT,
  ErrorCode,
  FaasError,
  type Page,
  type PageRequest,
  quotaExceeded,
  type SnapshotFilter,
  type SnapshotRecord,
} from '@faas/core';
import { decodeCursor, pageLimit, toPage } from '../page-cursor.ts';
import { QUOTAS_OF_PROJECT, quotaOf } from '../quota-rows.ts';
import { SNAPSHOT_COLUMNS, type SnapshotRow, snapshotValues, toSnapshot } from '../snapshot-rows.ts';
import { cursorInt } from './bigint-params.ts';
import type { PostgresDatabase, SqlValue } from './postgres-database.ts';

/** Snapshot records of sandbox instances. */
export class SnapshotQueries {
  #db: PostgresDatabase;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  create(snapshot: SnapshotRecord): Promise<void> {
    return this.#db.transaction(async (sql) => {
      const project = snapshot.spec.project ?? DEFAULT_PROJECT;
      // The project's row, locked: two snapshots cannot both take its last bytes.
      const [quotas] = await sql.rows<{ quotas: string | null }>(`${QUOTAS_OF_PROJECT('$1')} FOR UPDATE`, [
        project,
      ]);
      const limit = quotaOf(quotas?.quotas, 'snapshotStorageBytes');
      if (limit !== undefined) {
        const [row] = await sql.rows<{ bytes: string | null }>(
          'SELECT sum(size_bytes) AS bytes FROM snapshots WHERE project = $1',
          [project],
        );
        if (Number(row?.bytes ?? 0) + snapshot.sizeBytes > limit) {
          throw quotaExceeded('snapshotStorageBytes', limit, 'bytes of snapshots');
        }
      }
      const created = await sql.count(
        `INSERT INTO snapshots (${SNAPSHOT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
          ON CONFLICT DO NOTHING`,
        snapshotValues(snapshot),
      );
      if (created === 0) {
        throw new FaasError(ErrorCode.CONFLICT, `A snapshot with id ${snapshot.id} exists`, {
          details: { id: snapshot.id },
        });
      }
    });
  }

  async get(id: string): Promise<SnapshotRecord | undefined> {
    const [row] = await this.#db.rows<SnapshotRow>('SELECT * FROM snapshots WHERE id = $1', [id]);
    return row && toSnapshot(row);
  }

  async list(filter: SnapshotFilter, page: PageRequest): Promise<Page<SnapshotRecord>> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    const param = (value: SqlValue) => {
      params.push(value);
      return `$${params.length}`;
    };
    if (filter.project !== undefined) where.push(`project = ${param(filter.project)}`);
    if (filter.instanceId !== undefined) where.push(`instance_id = ${param(filter.instanceId)}`);
    if (filter.executionId !== undefined) where.push(`execution_id = ${param(filter.executionId)}`);
    if (page.cursor) {
      const [at, id] = decodeCursor(page.cursor, ['number', 'string']) as [number, string];
      where.push(`(created_at, id) < (${param(cursorInt(at, page.cursor))}, ${param(id)})`);
    }
    const limit = pageLimit(page);
    const rows = await this.#db.rows<SnapshotRow>(
      `SELECT * FROM snapshots ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY created_at DESC, id DESC LIMIT ${param(limit + 1)}`,
      params,
    );
    const cut = toPage(rows, limit, (r) => [r.created_at, r.id]);
    return { ...cut, items: cut.items.map(toSnapshot) };
  }

  async delete(id: string): Promise<boolean> {
    return (await this.#db.count('DELETE FROM snapshots WHERE id = $1', [id])) > 0;
  }
}
