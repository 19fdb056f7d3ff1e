import {
  DEFAULT_PROJECT,
  ErrorCode,
  FaasError,
  type FunctionRecord,
  type FunctionVersion,
  type NewFunctionVersion,
  type RouteSpec,
  routesOverlap,
} from '@faas/core';

/** A `function_versions` row, as both stores keep it. */
export interface VersionRow {
  name: string;
  version: number;
  runtime: string;
  code_sha256: string;
  code_size_bytes: number;
  artifact_sha256: string;
  config: string;
  created_at: string;
}

/** A function with its latest version joined in. */
export interface FunctionRow extends VersionRow {
  latest_version: number;
  function_created_at: string;
  updated_at: string;
}

export const VERSION_COLUMNS =
  'v.name, v.version, v.runtime, v.code_sha256, v.code_size_bytes, v.artifact_sha256, v.config, v.created_at';
export const FUNCTION_SELECT = `SELECT f.latest_version, f.created_at AS function_created_at, f.updated_at, ${VERSION_COLUMNS}
  FROM functions f JOIN function_versions v ON v.name = f.name AND v.version = f.latest_version`;

/** The row a new version is written as. */
export function versionRow(input: NewFunctionVersion, version: number, createdAt: string): VersionRow {
  return {
    name: input.name,
    version,
    runtime: input.runtime,
    code_sha256: input.codeSha256,
    code_size_bytes: input.codeSizeBytes,
    artifact_sha256: input.artifactSha256,
    config: JSON.stringify(configOf(input)),
    created_at: createdAt,
  };
}

/** The fields kept in the `config` JSON column: everything not stored in a column of its own. */
function configOf(input: NewFunctionVersion): Record<string, unknown> {
  const config: Record<string, unknown> = { ...input };
  for (const column of [
    'name',
    'runtime',
    'codeSha256',
    'codeSizeBytes',
    'artifactSha256',
    'version',
    'createdAt',
  ]) {
    delete config[column];
  }
  return config;
}

export function toVersion(row: VersionRow): FunctionVersion {
  return {
    ...(JSON.parse(row.config) as Omit<FunctionVersion, 'name' | 'runtime'>),
    name: row.name,
    version: row.version,
    project: (JSON.parse(row.config) as { project?: string }).project ?? DEFAULT_PROJECT,
    runtime: row.runtime as FunctionVersion['runtime'],
    codeSha256: row.code_sha256,
    codeSizeBytes: row.code_size_bytes,
    artifactSha256: row.artifact_sha256,
    createdAt: row.created_at,
  };
}

export function toFunction(row: FunctionRow): FunctionRecord {
  return {
    name: row.name,
    latestVersion: row.latest_version,
    createdAt: row.function_created_at,
    updatedAt: row.updated_at,
    latest: toVersion(row),
  };
}

/** The project a version is written in. */
export function projectOf(input: NewFunctionVersion): string {
  return input.project ?? DEFAULT_PROJECT;
}

/**
 * The first of `routes` that overlaps one of `others'` (`routesOverlap`): the routes of other
 * projects answered from the same table.
 */
export function firstOverlapping<T extends RouteSpec>(
  routes: readonly T[],
  others: readonly RouteSpec[],
): T | undefined {
  return routes.find((route) => others.some((other) => routesOverlap(route, other)));
}

/** A route another project declares: refused without naming that project's function. */
export function routeTakenElsewhere(route: RouteSpec): FaasError {
  return new FaasError(
    ErrorCode.ROUTE_CONFLICT,
    `Route ${route.method} ${route.path} would match requests of a route another project declares`,
    { details: { route: { method: route.method, path: route.path } } },
  );
}
