import type { ProjectRecord } from '@faas/core';
import { projectExists } from '../sqlite/project-queries.ts';
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
    const [row] = await this.#db.rows<{ name: string; created_at: string }>(
      'SELECT name, created_at FROM projects WHERE name = $1',
      [name],
    );
    return row && { name: row.name, createdAt: row.created_at };
  }

  async list(): Promise<ProjectRecord[]> {
    const rows = await this.#db.rows<{ name: string; created_at: string }>(
      'SELECT name, created_at FROM projects ORDER BY name',
    );
    return rows.map((row) => ({ name: row.name, createdAt: row.created_at }));
  }
}
