import {
  type CorsSettings,
  ErrorCode,
  FaasError,
  type ProjectQuotas,
  type ProjectRecord,
  type RateLimit,
  type RouteSpec,
} from '@faas/core';
import type { SqliteDatabase } from '../../sqlite/sqlite-database.ts';
import { firstOverlapping } from '../function-rows.ts';
import { OTHER_PROJECTS_SHARED_ROUTES } from './function-queries.ts';

/** A `projects` row, as both stores keep it. */
export interface ProjectRow {
  name: string;
  created_at: string;
  host: string | null;
  quotas: string | null;
  rate_limit: string | null;
  cors: string | null;
}

export const PROJECT_COLUMNS = 'name, created_at, host, quotas, rate_limit, cors';

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

  setCors(name: string, cors: CorsSettings | undefined): ProjectRecord {
    return this.#db.transaction(() => {
      const { changes } = this.#db.run(
        'UPDATE projects SET cors = ? WHERE name = ?',
        cors ? JSON.stringify(cors) : null,
        name,
      );
      if (changes === 0) throw projectNotFound(name);
      // Gateways reload projects with the routes, when the revision moves.
      this.#db.run("UPDATE counters SET value = value + 1 WHERE name = 'routes_revision'");
      return this.get(name) as ProjectRecord;
    });
  }

  setHost(name: string, host: string | undefined): ProjectRecord {
    return this.#db.transaction(() => {
      const current = this.get(name);
      if (!current) throw projectNotFound(name);
      if (host !== undefined) {
        const owner = this.#db.get<{ name: string }>('SELECT name FROM projects WHERE host = ?', host);
        if (owner && owner.name !== name) throw hostTaken(host);
      } else if (current.host !== undefined) {
        // Its routes rejoin the table of projects without a host: none may match another's requests.
        const clash = firstOverlapping(
          this.#db.all<RouteSpec>(
            `SELECT r.method, r.path FROM routes r JOIN functions f ON f.name = r.function_name
              WHERE f.project = ? ORDER BY r.function_name, r.position`,
            name,
          ),
          this.#db.all<RouteSpec>(OTHER_PROJECTS_SHARED_ROUTES, name),
        );
        if (clash) throw hostRoutesTaken(clash);
      }
      this.#db.run('UPDATE projects SET host = ? WHERE name = ?', host ?? null, name);
      this.#db.run("UPDATE counters SET value = value + 1 WHERE name = 'routes_revision'");
      const { host: _old, ...rest } = current;
      return host !== undefined ? { ...rest, host } : rest;
    });
  }

  setQuotas(name: string, quotas: ProjectQuotas): ProjectRecord {
    return this.#db.transaction(() => {
      const { changes } = this.#db.run(
        'UPDATE projects SET quotas = ? WHERE name = ?',
        quotasJson(quotas),
        name,
      );
      if (changes === 0) throw projectNotFound(name);
      this.#db.run("UPDATE counters SET value = value + 1 WHERE name = 'routes_revision'");
      return this.get(name) as ProjectRecord;
    });
  }

  /** One quota of a project (undefined: none), read in the caller's transaction. */
  quota(project: string, quota: keyof ProjectQuotas): number | undefined {
    const row = this.#db.get<{ quotas: string | null }>(
      'SELECT quotas FROM projects WHERE name = ?',
      project,
    );
    return row?.quotas ? (JSON.parse(row.quotas) as ProjectQuotas)[quota] : undefined;
  }
}

/** The column's value: NULL for no quota at all. */
export function quotasJson(quotas: ProjectQuotas): string | null {
  return Object.keys(quotas).length > 0 ? JSON.stringify(quotas) : null;
}

export function toProject(row: ProjectRow): ProjectRecord {
  return {
    name: row.name,
    createdAt: row.created_at,
    ...(row.host !== null ? { host: row.host } : {}),
    ...(row.quotas ? { quotas: JSON.parse(row.quotas) as ProjectQuotas } : {}),
    ...(row.rate_limit !== null ? { rateLimit: JSON.parse(row.rate_limit) as RateLimit } : {}),
    ...(row.cors !== null ? { cors: JSON.parse(row.cors) as CorsSettings } : {}),
  };
}

export function projectExists(name: string): FaasError {
  return new FaasError(ErrorCode.PROJECT_EXISTS, `Project "${name}" already exists`, { details: { name } });
}

export function projectNotFound(name: string): FaasError {
  return new FaasError(ErrorCode.PROJECT_NOT_FOUND, `Project "${name}" not found`, { details: { name } });
}

export function hostTaken(host: string): FaasError {
  return new FaasError(ErrorCode.HOST_TAKEN, `The host "${host}" belongs to another project`, {
    details: { host },
  });
}

/** A route of the project that another project without a host declares too: that one is not named. */
export function hostRoutesTaken(route: { method: string; path: string }): FaasError {
  return new FaasError(
    ErrorCode.ROUTE_CONFLICT,
    `Without its host, the project's route ${route.method} ${route.path} would match the requests of a route another project declares: keep the host or change the route`,
    { details: { route: { method: route.method, path: route.path } } },
  );
}
