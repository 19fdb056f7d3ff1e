import { ErrorCode, FaasError, type ProjectRecord } from '@faas/core';
import type { SqliteDatabase } from '../../sqlite/sqlite-database.ts';

/** Projects (tenants). */
export class ProjectQueries {
  #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  create(project: ProjectRecord): void {
    const { changes } = this.#db.run(
      'INSERT INTO projects (name, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING',
      project.name,
      project.createdAt,
    );
    if (changes === 0) throw projectExists(project.name);
  }

  get(name: string): ProjectRecord | undefined {
    const row = this.#db.get<{ name: string; created_at: string }>(
      'SELECT name, created_at FROM projects WHERE name = ?',
      name,
    );
    return row && { name: row.name, createdAt: row.created_at };
  }

  list(): ProjectRecord[] {
    return this.#db
      .all<{ name: string; created_at: string }>('SELECT name, created_at FROM projects ORDER BY name')
      .map((row) => ({ name: row.name, createdAt: row.created_at }));
  }
}

export function projectExists(name: string): FaasError {
  return new FaasError(ErrorCode.PROJECT_EXISTS, `Project "${name}" already exists`, { details: { name } });
}
