import type { CorsSettings, ProjectQuotas, ProjectRecord, RateLimit, RouteSpec } from '@faas/core';
import { firstOverlapping } from '../function-rows.ts';
import {
  hostRoutesTaken,
  hostTaken,
  PROJECT_COLUMNS,
  type ProjectRow,
  projectExists,
  projectNotFound,
  quotasJson,
  toProject,
} from '../sqlite/project-queries.ts';
import { bumpRevision, lockFunctions, OTHER_PROJECTS_SHARED_ROUTES } from './function-queries.ts';
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

  /** Under the lock every function write takes: a route conflict check is never outdated. */
  setHost(name: string, host: string | undefined): Promise<ProjectRecord> {
    return this.#db.transaction(async (sql) => {
      await lockFunctions(sql);
      const [row] = await sql.rows<ProjectRow>(`SELECT ${PROJECT_COLUMNS} FROM projects WHERE name = $1`, [
        name,
      ]);
      if (!row) throw projectNotFound(name);
      if (host !== undefined) {
        const [owner] = await sql.rows<{ name: string }>('SELECT name FROM projects WHERE host = $1', [host]);
        if (owner && owner.name !== name) throw hostTaken(host);
      } else if (row.host !== null) {
        // Its routes rejoin the table of projects without a host: none may match another's requests.
        const clash = firstOverlapping(
          await sql.rows<RouteSpec>(
            `SELECT r.method, r.path FROM routes r JOIN functions f ON f.name = r.function_name
              WHERE f.project = $1 ORDER BY r.function_name, r.position`,
            [name],
          ),
          await sql.rows<RouteSpec>(OTHER_PROJECTS_SHARED_ROUTES, [name]),
        );
        if (clash) throw hostRoutesTaken(clash);
      }
      await sql.count('UPDATE projects SET host = $1 WHERE name = $2', [host ?? null, name]);
      await bumpRevision(sql);
      return toProject({ ...row, host: host ?? null });
    });
  }

  setQuotas(name: string, quotas: ProjectQuotas): Promise<ProjectRecord> {
    return this.#db.transaction(async (sql) => {
      // The lock function writes take: a create counting functions sees the quota in force.
      await lockFunctions(sql);
      const [row] = await sql.rows<ProjectRow>(
        `UPDATE projects SET quotas = $1 WHERE name = $2 RETURNING ${PROJECT_COLUMNS}`,
        [quotasJson(quotas), name],
      );
      if (!row) throw projectNotFound(name);
      await bumpRevision(sql);
      return toProject(row);
    });
  }

  setCors(name: string, cors: CorsSettings | undefined): Promise<ProjectRecord> {
    return this.#db.transaction(async (sql) => {
      const [row] = await sql.rows<ProjectRow>(
        `UPDATE projects SET cors = $1 WHERE name = $2 RETURNING ${PROJECT_COLUMNS}`,
        [cors ? JSON.stringify(cors) : null, name],
      );
      if (!row) throw projectNotFound(name);
      // Gateways reload projects with the routes, when the revision moves.
      await bumpRevision(sql);
      return toProject(row);
    });
  }

  setRateLimit(name: string, rateLimit: RateLimit | undefined): Promise<ProjectRecord> {
    return this.#db.transaction(async (sql) => {
      const [row] = await sql.rows<ProjectRow>(
        `UPDATE projects SET rate_limit = $1 WHERE name = $2 RETURNING ${PROJECT_COLUMNS}`,
        [rateLimit ? JSON.stringify(rateLimit) : null, name],
      );
      if (!row) throw projectNotFound(name);
      // Other nodes read rate limits from the projects they reload when the revision moves.
      await bumpRevision(sql);
      return toProject(row);
    });
  }
}
