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
import { cursorInt } from './bigint-params.ts';
import type { PostgresDatabase, Sql, SqlValue } from './postgres-database.ts';

/** The channel every change of `routes_revision` is announced on; the payload is the schema. */
export const REVISION_CHANNEL = 'faas_routes_revision';

/**
 * Functions, their versions and routes. Every write takes the `routes_revision` row first
 * (FOR UPDATE): writes of functions run one at a time, so a route conflict check is never
 * outdated by the time its routes are written, and a version number is never taken twice.
 */
export class FunctionQueries {
  #db: PostgresDatabase;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  create(input: NewFunctionVersion): Promise<FunctionRecord> {
    const now = new Date().toISOString();
    return this.#db.transaction(async (sql) => {
      await lockFunctions(sql);
      // Under the lock: two creates cannot both take the project's last function.
      const [quotas] = await sql.rows<{ quotas: string | null }>(QUOTAS_OF_PROJECT('$1'), [projectOf(input)]);
      const limit = quotaOf(quotas?.quotas, 'functions');
      if (limit !== undefined) {
        const [row] = await sql.rows<{ n: string }>(
          'SELECT count(*) AS n FROM functions WHERE project = $1',
          [projectOf(input)],
        );
        if (Number(row?.n ?? 0) >= limit) throw quotaExceeded('functions', limit, 'functions');
      }
      const created = await sql.count(
        `INSERT INTO functions (name, latest_version, created_at, updated_at, project) VALUES ($1, 1, $2, $2, $3)
          ON CONFLICT DO NOTHING`,
        [input.name, now, projectOf(input)],
      );
      if (created === 0) {
        throw new FaasError(ErrorCode.FUNCTION_EXISTS, `Function "${input.name}" already exists`, {
          details: { name: input.name },
        });
      }
      await assertRoutesFree(sql, input.name, input.routes, projectOf(input));
      const version = await insertVersion(sql, input, 1, input.createdAt ?? now);
      await replaceRoutes(sql, input.name, input.routes);
      await bumpRevision(sql);
      return { name: input.name, latestVersion: 1, createdAt: now, updatedAt: now, latest: version };
    });
  }

  addVersion(input: NewFunctionVersion, expectedLatest: number | undefined): Promise<FunctionRecord> {
    return this.#db.transaction(async (sql) => {
      await lockFunctions(sql);
      const [row] = await sql.rows<{ latest_version: number; created_at: string }>(
        'SELECT latest_version, created_at FROM functions WHERE name = $1 AND project = $2',
        [input.name, projectOf(input)],
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
      await assertRoutesFree(sql, input.name, input.routes, projectOf(input));
      const next = row.latest_version + 1;
      const now = new Date().toISOString();
      const version = await insertVersion(sql, input, next, input.createdAt ?? now);
      await sql.count('UPDATE functions SET latest_version = $1, updated_at = $2 WHERE name = $3', [
        next,
        now,
        input.name,
      ]);
      await replaceRoutes(sql, input.name, input.routes);
      await bumpRevision(sql);
      return {
        name: input.name,
        latestVersion: next,
        createdAt: row.created_at,
        updatedAt: now,
        latest: version,
      };
    });
  }

  async get(name: string): Promise<FunctionRecord | undefined> {
    const [row] = await this.#db.rows<FunctionRow>(`${FUNCTION_SELECT} WHERE f.name = $1`, [name]);
    return row && toFunction(row);
  }

  async list(
    page: PageRequest,
    project: string | undefined,
    names: readonly string[] | undefined,
  ): Promise<Page<FunctionRecord>> {
    const limit = pageLimit(page);
    const after = page.cursor ? (decodeCursor(page.cursor, ['string'])[0] as string) : '';
    const params: SqlValue[] = [after, limit + 1];
    let where = 'f.name > $1';
    if (project !== undefined) where += ` AND f.project = $${params.push(project)}`;
    if (names !== undefined) where += ` AND f.name = ANY($${params.push([...names])}::text[])`;
    const rows = await this.#db.rows<FunctionRow>(
      `${FUNCTION_SELECT} WHERE ${where} ORDER BY f.name LIMIT $2`,
      params,
    );
    return toPage(rows.map(toFunction), limit, (f) => [f.name]);
  }

  /** Versions and routes go with the function (ON DELETE CASCADE). */
  delete(name: string): Promise<boolean> {
    return this.#db.transaction(async (sql) => {
      await lockFunctions(sql);
      const deleted = await sql.count('DELETE FROM functions WHERE name = $1', [name]);
      if (deleted > 0) await bumpRevision(sql);
      return deleted > 0;
    });
  }

  async getVersion(name: string, version: number): Promise<FunctionVersion | undefined> {
    // A number no version can have (1e20, 1.5) is simply absent, as in SQLite.
    if (!Number.isSafeInteger(version)) return undefined;
    const [row] = await this.#db.rows<VersionRow>(
      `SELECT ${VERSION_COLUMNS} FROM function_versions v WHERE v.name = $1 AND v.version = $2`,
      [name, version],
    );
    return row && toVersion(row);
  }

  async listVersions(name: string, page: PageRequest): Promise<Page<FunctionVersion>> {
    const limit = pageLimit(page);
    const before = page.cursor
      ? cursorInt(decodeCursor(page.cursor, ['number'])[0] as number, page.cursor)
      : Number.MAX_SAFE_INTEGER;
    const rows = await this.#db.rows<VersionRow>(
      `SELECT ${VERSION_COLUMNS} FROM function_versions v WHERE v.name = $1 AND v.version < $2
        ORDER BY v.version DESC LIMIT $3`,
      [name, before, limit + 1],
    );
    return toPage(rows.map(toVersion), limit, (v) => [v.version]);
  }

  async listRoutes(): Promise<RouteRecord[]> {
    const rows = await this.#db.rows<{
      method: RouteSpec['method'];
      path: string;
      function_name: string;
      host: string | null;
    }>(
      `SELECT r.method, r.path, r.function_name, p.host FROM routes r
        JOIN functions f ON f.name = r.function_name LEFT JOIN projects p ON p.name = f.project
        ORDER BY r.function_name, r.position`,
    );
    return rows.map((r) => ({
      method: r.method,
      path: r.path,
      functionName: r.function_name,
      ...(r.host !== null ? { host: r.host } : {}),
    }));
  }

  async routesRevision(): Promise<number> {
    const [row] = await this.#db.rows<{ value: number }>(
      "SELECT value FROM counters WHERE name = 'routes_revision'",
    );
    return row?.value ?? 0;
  }
}

/** The routes of projects without a host other than `$1`: one table answers them all. */
export const OTHER_PROJECTS_SHARED_ROUTES = `SELECT r.method, r.path FROM routes r
  JOIN functions f ON f.name = r.function_name LEFT JOIN projects p ON p.name = f.project
  WHERE f.project <> $1 AND p.host IS NULL`;

/** Takes the lock all function writes share (see FunctionQueries), until the transaction ends. */
export async function lockFunctions(sql: Sql): Promise<void> {
  await sql.rows("SELECT value FROM counters WHERE name = 'routes_revision' FOR UPDATE");
}

/** Moves the revision and tells listeners (delivered when the transaction commits). */
export async function bumpRevision(sql: Sql): Promise<void> {
  await sql.rows(
    `UPDATE counters SET value = value + 1 WHERE name = 'routes_revision'
      RETURNING pg_notify('${REVISION_CHANNEL}', coalesce(current_schema(), ''))`,
  );
}

/**
 * A route is taken when another function has one of the same shape (`/users/:id` and
 * `/users/:uid` match the same requests) with the same method, or `ANY` on either side. One
 * query for all routes; the first of `routes` that conflicts is reported.
 */
async function assertRoutesFree(sql: Sql, name: string, routes: RouteSpec[], project: string): Promise<void> {
  if (routes.length === 0) return;
  const [owner] = await sql.rows<{
    i: number;
    method: string;
    path: string;
    function_name: string;
    project: string;
  }>(
    // A project with a host answers its routes alone: only its own can conflict with them.
    `SELECT c.i, r.method, r.path, r.function_name, f.project
      FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS c (method, shape, i)
      JOIN routes r ON r.shape = c.shape AND r.function_name <> $3
        AND (r.method = c.method OR r.method = 'ANY' OR c.method = 'ANY')
      JOIN functions f ON f.name = r.function_name
      LEFT JOIN projects p ON p.name = f.project
      WHERE f.project = $4
        OR (p.host IS NULL AND NOT EXISTS (SELECT 1 FROM projects m WHERE m.name = $4 AND m.host IS NOT NULL))
      ORDER BY c.i LIMIT 1`,
    [routes.map((r) => r.method), routes.map((r) => routeShape(r.path)), name, project],
  );
  if (!owner) {
    // On the table of projects without a host no route may overlap another project's, as a more
    // specific one would take requests meant for the other. (None when this project has a host.)
    const taken = firstOverlapping(
      routes,
      await sql.rows<RouteSpec>(
        `${OTHER_PROJECTS_SHARED_ROUTES}
          AND NOT EXISTS (SELECT 1 FROM projects m WHERE m.name = $1 AND m.host IS NOT NULL)`,
        [project],
      ),
    );
    if (taken) throw routeTakenElsewhere(taken);
    return;
  }
  const route = routes[owner.i - 1] as RouteSpec;
  if (owner.project !== project) throw routeTakenElsewhere(route);
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

/** Writes a version and returns it as a read would (the config through JSON, as stored). */
async function insertVersion(
  sql: Sql,
  input: NewFunctionVersion,
  version: number,
  createdAt: string,
): Promise<FunctionVersion> {
  const row = versionRow(input, version, createdAt);
  await sql.count(
    `INSERT INTO function_versions
      (name, version, runtime, code_sha256, code_size_bytes, artifact_sha256, config, created_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      row.name,
      row.version,
      row.runtime,
      row.code_sha256,
      row.code_size_bytes,
      row.artifact_sha256,
      row.config,
      row.created_at,
    ],
  );
  return toVersion(row);
}

async function replaceRoutes(sql: Sql, name: string, routes: RouteSpec[]): Promise<void> {
  await sql.count('DELETE FROM routes WHERE function_name = $1', [name]);
  if (routes.length === 0) return;
  // The same route listed twice by one function is one route.
  await sql.count(
    `INSERT INTO routes (method, path, function_name, position, shape)
      SELECT c.method, c.path, $4, c.i - 1, c.shape
        FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS c (method, path, shape, i)
        ORDER BY c.i
      ON CONFLICT DO NOTHING`,
    [routes.map((r) => r.method), routes.map((r) => r.path), routes.map((r) => routeShape(r.path)), name],
  );
}
