import type { AuditEntry, AuditFilter, Page, PageRequest } from '@faas/core';
import { AUDIT_COLUMNS, type AuditRow, auditValues, toAuditEntry } from '../audit-rows.ts';
import { decodeCursor, pageLimit, toPage } from '../page-cursor.ts';
import type { PostgresDatabase, SqlValue } from './postgres-database.ts';

/** The audit trail: appended, listed newest first, swept by age. */
export class AuditQueries {
  #db: PostgresDatabase;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  async append(entry: AuditEntry): Promise<void> {
    await this.#db.count(
      `INSERT INTO audit (${AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      auditValues(entry),
    );
  }

  async list(filter: AuditFilter, page: PageRequest): Promise<Page<AuditEntry>> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    const add = (clause: string, value: SqlValue) => {
      params.push(value);
      where.push(`${clause} $${params.length}`);
    };
    if (filter.project !== undefined) add('project =', filter.project);
    if (filter.action !== undefined) add('action =', filter.action);
    if (filter.actorKeyId !== undefined) add('actor_key_id =', filter.actorKeyId);
    if (filter.targets !== undefined) {
      params.push([...filter.targets]);
      where.push(`EXISTS (SELECT 1 FROM unnest($${params.length}::text[]) AS t(v)
        WHERE audit.target = t.v OR starts_with(audit.target, t.v || '/'))`);
    }
    if (filter.since !== undefined) add('at >=', filter.since);
    if (filter.until !== undefined) add('at <', filter.until);
    if (page.cursor) add('id <', decodeCursor(page.cursor, ['string'])[0] as string);
    const limit = pageLimit(page);
    params.push(limit + 1);
    const rows = await this.#db.rows<AuditRow>(
      `SELECT ${AUDIT_COLUMNS} FROM audit ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY id DESC LIMIT $${params.length}`,
      params,
    );
    const cut = toPage(rows, limit, (r) => [r.id]);
    return { ...cut, items: cut.items.map(toAuditEntry) };
  }

  deleteOld(before: string, limit: number): Promise<number> {
    return this.#db.count('DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < $1 LIMIT $2)', [
      before,
      limit,
    ]);
  }
}
