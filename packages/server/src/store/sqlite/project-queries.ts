import { ErrorCode, FaasError, type ProjectRecord, type RateLimit } from '@faas/core';
import type { SqliteDatabase } from '../../sqlite/sqlite-database.ts';

/** A `projects` row, as both stores keep it. */
export interface ProjectRow {
  name: string;
  created_at: string;
  rate_limit: string | null;
}

export const PROJECT_COLUMNS = 'name, created_at, rate_limit';

export function toProject(row: ProjectRow): ProjectRecord {
  const project: ProjectRecord = { name: row.name, createdAt: row.created_at };
  if (row.rate_limit !== null) project.rateLimit = JSON.parse(row.rate_limit) as RateLimit;
  return project;
}

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
    const row = this.#db.get<ProjectRow>(`SELECT ${PROJECT_COLUMNS} FROM projects WHERE name = ?`, name);
    return row && toProject(row);
  }

  list(): ProjectRecord[] {
    return this.#db.all<ProjectRow>(`SELECT ${PROJECT_COLUMNS} FROM projects ORDER BY name`).map(toProject);
  }

  setRateLimit(name: string, rateLimit: RateLimit | undefined): ProjectRecord {
    const { changes } = this.#db.run(
      'UPDATE projects SET rate_limit = ? WHERE name = ?',
      rateLimit ? JSON.stringify(rateLimit) : null,
      name,
    );
    const project = changes === 0 ? undefined : this.get(name);
    if (!project) throw projectNotFound(name);
    return project;
  }
}

export function projectExists(name: string): FaasError {
  return new FaasError(ErrorCode.PROJECT_EXISTS, `Project "${name}" already exists`, { details: { name } });
}

export function projectNotFound(name: string): FaasError {
  return new FaasError(ErrorCode.PROJECT_NOT_FOUND, `Project "${name}" not found`, { details: { name } });
}
