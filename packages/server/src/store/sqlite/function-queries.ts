import {
  ErrorCode,
  FaasError,
  type FunctionRecord,
  type FunctionVersion,
  type NewFunctionVersion,
  type Page,
  type PageRequest,
  quotaExceeded,
  type RouteRecord,
  type RouteSpec,
  routeShape,
} from '@faas/core';
import type { SqliteDatabase } from '../../sqlite/sqlite-database.ts';
import {
  FUNCTION_SELECT,
  type FunctionRow,
  firstOverlapping,
  projectOf,
  routeTakenElsewhere,
  toFunction,
  toVersion,
  VERSION_COLUMNS,
  type VersionRow,
  versionRow,
} from '../function-rows.ts';
import { decodeCursor, pageLimit, toPage } from '../page-cursor.ts';
import { QUOTAS_OF_PROJECT, quotaOf } from '../quota-rows.ts';

/** The routes of projects without a host other than `?`: one table answers them all. */
export const OTHER_PROJECTS_SHARED_ROUTES = `SELECT r.method, r.path FROM routes r
  JOIN functions f ON f.name = r.function_name LEFT JOIN projects p ON p.name = f.project
  WHERE f.project <> ? AND p.host IS NULL`;

/** Functions, their versions and routes. Every writer runs inside the caller's transaction. */
export class FunctionQueries {
  #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  create(input: NewFunctionVersion): FunctionRecord {
    return this.#db.transaction(() => {
      if (this.#db.get('SELECT 1 FROM functions WHERE name = ?', input.name)) {
        throw new FaasError(ErrorCode.FUNCTION_EXISTS, `Function "${input.name}" already exists`, {
          details: { name: input.name },
        });
      }
      this.#assertRoutesFree(input.name, input.routes, projectOf(input));
      const limit = quotaOf(
        this.#db.get<{ quotas: string | null }>(QUOTAS_OF_PROJECT('?'), projectOf(input))?.quotas,
        'functions',
      );
      const count = () =>
        this.#db.get<{ n: number }>('SELECT count(*) AS n FROM functions WHERE project = ?', projectOf(input))
          ?.n ?? 0;
      if (limit !== undefined && count() >= limit) throw quotaExceeded('functions', limit, 'functions');
      const now = new Date().toISOString();
      this.#db.run(
        'INSERT INTO functions (name, latest_version, created_at, updated_at, project) VALUES (?, 1, ?, ?, ?)',
        input.name,
        now,
        now,
        projectOf(input),
      );
      this.#insertVersion(input, 1, input.createdAt ?? now);
      this.#replaceRoutes(input.name, input.routes);
      return this.#read(input.name) as FunctionRecord;
    });
  }

  addVersion(input: NewFunctionVersion, expectedLatest: number | undefined): FunctionRecord {
    return this.#db.transaction(() => {
      const row = this.#db.get<{ latest_version: number }>(
        'SELECT latest_version FROM functions WHERE name = ? AND project = ?',
        input.name,
        projectOf(input),
      );
      if (!row) {
        throw new FaasError(ErrorCode.FUNCTION_NOT_FOUND, `Function "${input.name}" not found`, {
          details: { name: input.name },
        });
      }
      if (expectedLatest !== undefined && row.latest_version !== expectedLatest) {
        throw new FaasError(
          ErrorCode.CONFLICT,
          `Function "${input.name}" changed meanwhile: latest version is ${row.latest_version}, expected ${expectedLatest}`,
          { details: { name: input.name, expectedLatest, latestVersion: row.latest_version } },
        );
      }
      this.#assertRoutesFree(input.name, input.routes, projectOf(input));
      const version = row.latest_version + 1;
      const now = new Date().toISOString();
      this.#insertVersion(input, version, input.createdAt ?? now);
      this.#db.run(
        'UPDATE functions SET latest_version = ?, updated_at = ? WHERE name = ?',
        version,
        now,
        input.name,
      );
      this.#replaceRoutes(input.name, input.routes);
      return this.#read(input.name) as FunctionRecord;
    });
  }

  get(name: string): FunctionRecord | undefined {
    return this.#read(name);
  }

  list(
    page: PageRequest,
    project: string | undefined,
    names: readonly string[] | undefined,
  ): Page<FunctionRecord> {
    const limit = pageLimit(page);
    const after = page.cursor ? (decodeCursor(page.cursor, ['string'])[0] as string) : '';
    const params: Array<string | number> = [after];
    let where = 'f.name > ?';
    if (project !== undefined) {
      where += ' AND f.project = ?';
      params.push(project);
    }
    if (names !== undefined) {
      where += ' AND f.name IN (SELECT value FROM json_each(?))';
      params.push(JSON.stringify(names));
    }
    const rows = this.#db.all<FunctionRow>(
      `${FUNCTION_SELECT} WHERE ${where} ORDER BY f.name LIMIT ?`,
      ...params,
      limit + 1,
    );
    return toPage(rows.map(toFunction), limit, (f) => [f.name]);
  }

  delete(name: string): boolean {
    return this.#db.transaction(() => {
      this.#db.run('DELETE FROM routes WHERE function_name = ?', name);
      this.#db.run('DELETE FROM function_versions WHERE name = ?', name);
      const { changes } = this.#db.run('DELETE FROM functions WHERE name = ?', name);
      if (changes > 0) this.#bumpRevision();
      return changes > 0;
    });
  }

  getVersion(name: string, version: number): FunctionVersion | undefined {
    const row = this.#db.get<VersionRow>(
      `SELECT ${VERSION_COLUMNS} FROM function_versions v WHERE v.name = ? AND v.version = ?`,
      name,
      version,
    );
    return row && toVersion(row);
  }

  listVersions(name: string, page: PageRequest): Page<FunctionVersion> {
    const limit = pageLimit(page);
    const before = page.cursor
      ? (decodeCursor(page.cursor, ['number'])[0] as number)
      : Number.MAX_SAFE_INTEGER;
    const rows = this.#db.all<VersionRow>(
      `SELECT ${VERSION_COLUMNS} FROM function_versions v WHERE v.name = ? AND v.version < ?
        ORDER BY v.version DESC LIMIT ?`,
      name,
      before,
      limit + 1,
    );
    return toPage(rows.map(toVersion), limit, (v) => [v.version]);
  }

  listRoutes(): RouteRecord[] {
    return this.#db
      .all<{ method: RouteSpec['method']; path: string; function_name: string; host: string | null }>(
        `SELECT r.method, r.path, r.function_name, p.host FROM routes r
          JOIN functions f ON f.name = r.function_name LEFT JOIN projects p ON p.name = f.project
          ORDER BY r.function_name, r.position`,
      )
      .map((r) => ({
        method: r.method,
        path: r.path,
        functionName: r.function_name,
        ...(r.host !== null ? { host: r.host } : {}),
      }));
  }

  routesRevision(): number {
    return (
      this.#db.get<{ value: number }>("SELECT value FROM counters WHERE name = 'routes_revision'")?.value ?? 0
    );
  }

  #read(name: string): FunctionRecord | undefined {
    const row = this.#db.get<FunctionRow>(`${FUNCTION_SELECT} WHERE f.name = ?`, name);
    return row && toFunction(row);
  }

  /**
   * A route is taken when another function has one of the same shape (`/users/:id` and
   * `/users/:uid` match the same requests) with the same method, or `ANY` on either side.
   */
  #assertRoutesFree(name: string, routes: RouteSpec[], project: string): void {
    if (routes.length === 0) return;
    // A project with a host answers its routes alone: only its own can conflict with them.
    const host = this.#db.get<{ host: string | null }>(
      'SELECT host FROM projects WHERE name = ?',
      project,
    )?.host;
    for (const route of routes) {
      const owner = this.#db.get<{ method: string; path: string; function_name: string; project: string }>(
        `SELECT r.method, r.path, r.function_name, f.project FROM routes r JOIN functions f ON f.name = r.function_name
          LEFT JOIN projects p ON p.name = f.project
          WHERE r.shape = ? AND r.function_name <> ? AND (r.method = ? OR r.method = 'ANY' OR ? = 'ANY')
            AND (f.project = ? OR (? IS NULL AND p.host IS NULL)) LIMIT 1`,
        routeShape(route.path),
        name,
        route.method,
        route.method,
        project,
        host ?? null,
      );
      if (owner && owner.project !== project) throw routeTakenElsewhere(route);
      if (owner) {
        throw new FaasError(
          ErrorCode.ROUTE_CONFLICT,
          `Route ${route.method} ${route.path} conflicts with ${owner.method} ${owner.path} of function "${owner.function_name}": both match the same requests`,
          {
            details: {
              route: { method: route.method, path: route.path },
              conflictsWith: { method: owner.method, path: owner.path, functionName: owner.function_name },
            },
          },
        );
      }
    }
    if (host != null) return;
    // On the table of projects without a host no route may overlap another project's, as a
    // more specific one would take requests meant for the other.
    const taken = firstOverlapping(routes, this.#db.all<RouteSpec>(OTHER_PROJECTS_SHARED_ROUTES, project));
    if (taken) throw routeTakenElsewhere(taken);
  }

  /** Fills the shape of routes written before the column existed (migration 005). Idempotent. */
  fillRouteShapes(): void {
    this.#db.transaction(() => {
      for (const r of this.#db.all<{ method: string; path: string }>(
        'SELECT method, path FROM routes WHERE shape IS NULL',
      )) {
        this.#db.run(
          'UPDATE routes SET shape = ? WHERE method = ? AND path = ?',
          routeShape(r.path),
          r.method,
          r.path,
        );
      }
    });
  }

  #insertVersion(input: NewFunctionVersion, version: number, createdAt: string): void {
    const row = versionRow(input, version, createdAt);
    this.#db.run(
      `INSERT INTO function_versions
        (name, version, runtime, code_sha256, code_size_bytes, artifact_sha256, config, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      row.name,
      row.version,
      row.runtime,
      row.code_sha256,
      row.code_size_bytes,
      row.artifact_sha256,
      row.config,
      row.created_at,
    );
  }

  #replaceRoutes(name: string, routes: RouteSpec[]): void {
    this.#db.run('DELETE FROM routes WHERE function_name = ?', name);
    routes.forEach((route, position) => {
      // The same route listed twice by one function is one route.
      this.#db.run(
        'INSERT INTO routes (method, path, function_name, position, shape) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
        route.method,
        route.path,
        name,
        position,
        routeShape(route.path),
      );
    });
    this.#bumpRevision();
  }

  #bumpRevision(): void {
    this.#db.run("UPDATE counters SET value = value + 1 WHERE name = 'routes_revision'");
  }
}
