import type { ProjectRecord, RateLimit } from '@faas/core';
import {
  PROJECT_COLUMNS,
  type ProjectRow,
  projectExists,
  projectNotFound,
  toProject,
} from '../sqlite/project-queries.ts';
import type { PostgresDatabase } from './postgres-database.ts';

/** Projects (tenants). */
export class ProjectQueries {
  #db: PostgresDatabase;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  async create(project: ProjectRecord): Promise<void> {
    const created = await this.#db.count(
      'INSERT INTO projects (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING',
      [project.name, project.createdAt],
    );
    if (created === 0) throw projectExists(project.name);
  }

  async get(name: string): Promise<ProjectRecord | undefined> {
    const [row] = await this.#db.rows<ProjectRow>(`SELECT ${PROJECT_COLUMNS} FROM projects WHERE name = $1`, [
      name,
    ]);
    return row && toProject(row);
  }

  async list(): Promise<ProjectRecord[]> {
    const rows = await this.#db.rows<ProjectRow>(`SELECT ${PROJECT_COLUMNS} FROM projects ORDER BY name`);
    return rows.map(toProject);
  }

  async setRateLimit(name: string, rateLimit: RateLimit | undefined): Promise<ProjectRecord> {
    const [row] = await this.#db.rows<ProjectRow>(
      `UPDATE projects SET rate_limit = $1 WHERE name = $2 RETURNING ${PROJECT_COLUMNS}`,
      [rateLimit ? JSON.stringify(rateLimit) : null, name],
    );
    if (!row) throw projectNotFound(name);
    return toProject(row);
  }
}
