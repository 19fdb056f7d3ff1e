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
import type { SqliteDatabase, SqlParam } from '../../sqlite/sqlite-database.ts';
import { decodeCursor, pageLimit, toPage } from '../page-cursor.ts';
import { QUOTAS_OF_PROJECT, quotaOf } from '../quota-rows.ts';
import { SNAPSHOT_COLUMNS, type SnapshotRow, snapshotValues, toSnapshot } from '../snapshot-rows.ts';

/** Snapshot records of sandbox instances. */
export class SnapshotQueries {
  #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  create(snapshot: SnapshotRecord): void {
    this.#db.transaction(() => {
      if (this.#db.get('SELECT 1 FROM snapshots WHERE id = ?', snapshot.id)) {
        throw new FaasError(ErrorCode.CONFLICT, `A snapshot with id ${snapshot.id} exists`, {
          details: { id: snapshot.id },
        });
      }
      const project = snapshot.spec.project ?? DEFAULT_PROJECT;
      const limit = quotaOf(
        this.#db.get<{ quotas: string | null }>(QUOTAS_OF_PROJECT('?'), project)?.quotas,
        'snapshotStorageBytes',
      );
      if (limit !== undefined) {
        const used =
          this.#db.get<{ bytes: number | null }>(
            'SELECT sum(size_bytes) AS bytes FROM snapshots WHERE project = ?',
            project,
          )?.bytes ?? 0;
        if (used + snapshot.sizeBytes > limit)
          throw quotaExceeded('snapshotStorageBytes', limit, 'bytes of snapshots');
      }
      this.#db.run(
        `INSERT INTO snapshots (${SNAPSHOT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ...snapshotValues(snapshot),
      );
    });
  }

  get(id: string): SnapshotRecord | undefined {
    const row = this.#db.get<SnapshotRow>('SELECT * FROM snapshots WHERE id = ?', id);
    return row && toSnapshot(row);
  }

  list(filter: SnapshotFilter, page: PageRequest): Page<SnapshotRecord> {
    const where: string[] = [];
    const params: SqlParam[] = [];
    if (filter.project !== undefined) {
      where.push('project = ?');
      params.push(filter.project);
    }
    if (filter.instanceId !== undefined) {
      where.push('instance_id = ?');
      params.push(filter.instanceId);
    }
    if (filter.executionId !== undefined) {
      where.push('execution_id = ?');
      params.push(filter.executionId);
    }
    if (page.cursor) {
      where.push('(created_at, id) < (?, ?)');
      params.push(...(decodeCursor(page.cursor, ['number', 'string']) as [number, string]));
    }
    const limit = pageLimit(page);
    const rows = this.#db.all<SnapshotRow>(
      `SELECT * FROM snapshots ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY created_at DESC, id DESC LIMIT ?`,
      ...params,
      limit + 1,
    );
    const cut = toPage(rows, limit, (r) => [r.created_at, r.id]);
    return { ...cut, items: cut.items.map(toSnapshot) };
  }

  delete(id: string): boolean {
    return this.#db.run('DELETE FROM snapshots WHERE id = ?', id).changes > 0;
  }
}
