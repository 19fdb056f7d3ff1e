import type { AuditEntry, AuditFilter, Page, PageRequest } from '@faas/core';
import type { SqliteDatabase, SqlParam } from '../../sqlite/sqlite-database.ts';
import { AUDIT_COLUMNS, type AuditRow, auditValues, toAuditEntry } from '../audit-rows.ts';
import { decodeCursor, pageLimit, toPage } from '../page-cursor.ts';

/** The audit trail: appended, listed newest first, swept by age. */
export class AuditQueries {
  #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  append(entry: AuditEntry): void {
    this.#db.run(
      `INSERT INTO audit (${AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ...auditValues(entry),
    );
  }

  list(filter: AuditFilter, page: PageRequest): Page<AuditEntry> {
    const where: string[] = [];
    const params: SqlParam[] = [];
    const add = (clause: string, value: SqlParam) => {
      where.push(clause);
      params.push(value);
    };
    if (filter.project !== undefined) add('project = ?', filter.project);
    if (filter.action !== undefined) add('action = ?', filter.action);
    if (filter.actorKeyId !== undefined) add('actor_key_id = ?', filter.actorKeyId);
    if (filter.targets !== undefined) {
      add(
        `EXISTS (SELECT 1 FROM json_each(?) AS t
          WHERE audit.target = t.value OR substr(audit.target, 1, length(t.value) + 1) = t.value || '/')`,
        JSON.stringify(filter.targets),
      );
    }
    if (filter.since !== undefined) add('at >= ?', filter.since);
    if (filter.until !== undefined) add('at < ?', filter.until);
    if (page.cursor) add('id < ?', decodeCursor(page.cursor, ['string'])[0] as string);
    const limit = pageLimit(page);
    const rows = this.#db.all<AuditRow>(
      `SELECT ${AUDIT_COLUMNS} FROM audit ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY id DESC LIMIT ?`,
      ...params,
      limit + 1,
    );
    const cut = toPage(rows, limit, (r) => [r.id]);
    return { ...cut, items: cut.items.map(toAuditEntry) };
  }

  deleteOld(before: string, limit: number): number {
    return this.#db.run(
      'DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < ? LIMIT ?)',
      before,
      limit,
    ).changes;
  }
}
