import type { RateLimit } from './functions.ts';

/**
 * Projects (tenants) own everything: functions, sandboxes, caches, cached results. Until keys
 * carry one, every request acts in `default`; the gateway puts the request's project on the
 * request (`request.project`) and everything below takes it from there, so tenancy only has to
 * set the real one.
 */
export const DEFAULT_PROJECT = 'default';

/** What a project id may be: it names file systems, volumes and cache keys. */
const PROJECT_ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function isProjectId(value: string): boolean {
  return PROJECT_ID.test(value);
}

/** A project (tenant): every function, invocation, sandbox, snapshot and key belongs to one. */
export interface ProjectRecord {
  name: string;
  createdAt: string;
  /** Invocations per second of all the project's functions together (docs/rate-limits.md). Absent: no limit. */
  rateLimit?: RateLimit;
}

/**
 * Whether an object of `project` is visible in `scope` (the project a caller may see; undefined:
 * every project). Another project's object is absent (404), never forbidden (403): its name
 * leaks nothing.
 */
export function inScope(scope: string | undefined, project: string | undefined): boolean {
  return scope === undefined || scope === (project ?? DEFAULT_PROJECT);
}
