import type { CorsSettings } from './cors.ts';
import { ErrorCode, FaasError } from './errors.ts';
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
  /**
   * The host name (a custom domain) the project's declared routes answer on, alone: requests with
   * another Host do not reach them. Absent: its routes join the platform's one table of routes of
   * projects without a host, where a conflict is refused.
   */
  host?: string;
  /** Limits the platform admin set on the project; a quota absent is no limit. */
  quotas?: ProjectQuotas;
  /** Which browser origins may call its functions and the API with its keys (docs/security.md#cors). Absent: none. */
  cors?: CorsSettings;
}

/**
 * What a project may hold or run at once (issue 19). Each is a whole number; absent: unlimited,
 * the default (but for `queuedInvocations`, which then is the operator's
 * FAAS_MAX_QUEUED_PER_PROJECT). Past one, the request is refused with QUOTA_EXCEEDED naming it
 * (`details.quota`): 429 for concurrent and queued invocations (a retry later may pass), 403 for
 * the others.
 */
export interface ProjectQuotas {
  /** Functions the project has. */
  functions?: number;
  /** Sync invocations of its functions running at once, on every gateway thread together. */
  concurrentInvocations?: number;
  /**
   * Async invocations accepted and not finished (queued or running), so that one project's flood
   * of jobs neither grows the queue without bound nor stands for days ahead of other projects'.
   */
  queuedInvocations?: number;
  /** Sandbox instances it has (running or stopped). */
  instances?: number;
  /** Bytes of its snapshots, together. */
  snapshotStorageBytes?: number;
}

export const QUOTA_NAMES = [
  'functions',
  'concurrentInvocations',
  'queuedInvocations',
  'instances',
  'snapshotStorageBytes',
] as const;
export type QuotaName = (typeof QUOTA_NAMES)[number];

/** A host name as a project may own it: lowercase DNS labels, at least two, no port. */
const HOST_NAME =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;

export function isHostName(value: string): boolean {
  return HOST_NAME.test(value);
}

/**
 * The host a request names (its Host header) as projects own them: lowercase, without the port
 * or a final dot. undefined when absent.
 */
export function requestHost(header: string | undefined): string | undefined {
  if (!header) return undefined;
  let host = header.toLowerCase();
  const colon = host.lastIndexOf(':');
  if (colon >= 0 && !host.endsWith(']')) host = host.slice(0, colon);
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

/**
 * Whether an object of `project` is visible in `scope` (the project a caller may see; undefined:
 * every project). Another project's object is absent (404), never forbidden (403): its name
 * leaks nothing.
 */
export function inScope(scope: string | undefined, project: string | undefined): boolean {
  return scope === undefined || scope === (project ?? DEFAULT_PROJECT);
}

/** Quotas of what finishes by itself: a retry later may pass (429, not 403). */
const RETRY_LATER: ReadonlySet<QuotaName> = new Set(['concurrentInvocations', 'queuedInvocations']);

/** The refusal past `quota`: it names the quota and how to get past it. */
export function quotaExceeded(quota: QuotaName, limit: number, what: string): FaasError {
  const later = RETRY_LATER.has(quota);
  return new FaasError(
    ErrorCode.QUOTA_EXCEEDED,
    `The project's quota of ${limit} ${what} (${quota}) is reached: ${later ? 'retry once some have finished, or ' : ''}a platform admin raises it with PATCH /api/v1/projects/{name} {"quotas": {"${quota}": n}}`,
    { details: { quota, limit }, ...(later ? { status: 429 } : {}) },
  );
}
