import {
  DEFAULT_PROJECT,
  ErrorCode,
  FaasError,
  INVOCATION_STATUSES,
  type Invocation,
  type InvocationPatch,
  LISTED_RESULT_MAX_BYTES,
  type StoredLogLine,
  TERMINAL_STATUSES,
} from '@faas/core';

/** An `invocations` row, as both stores keep it. */
export interface InvocationRow {
  id: string;
  function_name: string;
  version: number;
  mode: Invocation['mode'];
  trigger_kind: Invocation['trigger'];
  status: Invocation['status'];
  idempotency_key: string | null;
  idempotency_hash: string | null;
  attempts: number;
  result: string | null;
  error: string | null;
  created_at: string;
  created_ms: number;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  cpu_time_ms: number | null;
  peak_memory_bytes: number | null;
  project: string | null;
  /** 1 or 0 (SQLite), true or false (PostgreSQL); null: not known (an older row, or it never ran). */
  cold_start: number | boolean | null;
  trace_id: string | null;
  /** Lists only (listColumns): the result's bytes, when the result itself was left out. */
  result_bytes?: number | null;
}

/**
 * The columns of a list of invocations: every one of the row, but a result over
 * LISTED_RESULT_MAX_BYTES is left out (only its size read), so the database never hands over the
 * whole of a page of large results. `bytes` is the dialect's byte length of a text column.
 */
export function listColumns(bytes: (column: string) => string): string {
  const size = bytes('result');
  return `id, function_name, version, mode, trigger_kind, status, idempotency_key, idempotency_hash,
    attempts, error, created_at, created_ms, started_at, finished_at, duration_ms, cpu_time_ms,
    peak_memory_bytes, project, cold_start, trace_id,
    CASE WHEN ${size} <= ${LISTED_RESULT_MAX_BYTES} THEN result END AS result,
    CASE WHEN ${size} > ${LISTED_RESULT_MAX_BYTES} THEN ${size} END AS result_bytes`;
}

export interface LogRow {
  seq: number;
  invocation_id: string;
  function_name: string;
  ts: number;
  level: StoredLogLine['level'];
  message: string;
}

export type InvocationValue = string | number | null;

/** The columns of an invocation, in the order of `invocationValues`. */
export const INVOCATION_COLUMNS = [
  'id',
  'function_name',
  'version',
  'mode',
  'trigger_kind',
  'status',
  'idempotency_key',
  'idempotency_hash',
  'attempts',
  'result',
  'error',
  'created_at',
  'created_ms',
  'started_at',
  'finished_at',
  'duration_ms',
  'cpu_time_ms',
  'peak_memory_bytes',
  'project',
  'cold_start',
  'trace_id',
] as const;

export const LOG_COLUMNS = 'seq, invocation_id, function_name, ts, level, message';

/** `status IN (…)` of the statuses an invocation can still leave (queued, running). */
export const UNFINISHED = INVOCATION_STATUSES.filter((s) => !TERMINAL_STATUSES.has(s))
  .map((s) => `'${s}'`)
  .join(', ');

/**
 * How many of a project's invocations are queued or running (`n`; placeholder: the project): one
 * row the store's triggers keep (migrations' unfinished_invocations), so the check an async invoke
 * makes costs the same however long the queue is. `lock` (PostgreSQL's FOR UPDATE) makes writers
 * of one project take turns, each seeing the last one's row.
 */
export const UNFINISHED_OF_PROJECT = (project: string, lock = '') =>
  `SELECT coalesce((SELECT n FROM unfinished_invocations WHERE project = ${project}${lock}), 0) AS n`;

export const MAX_TAIL_LIMIT = 10_000;
const DEFAULT_TAIL_LIMIT = 100;

/** The `limit` of tailLogs, defaulted and clamped to 1…MAX_TAIL_LIMIT. */
export function tailLimit(limit: number | undefined): number {
  return Math.min(MAX_TAIL_LIMIT, Math.max(1, Math.trunc(limit ?? DEFAULT_TAIL_LIMIT)));
}

/** Patchable fields and their columns; JSON-valued fields are encoded on the way in. */
const PATCH_COLUMNS: Record<keyof InvocationPatch, string> = {
  status: 'status',
  attempts: 'attempts',
  result: 'result',
  error: 'error',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
  durationMs: 'duration_ms',
  cpuTimeMs: 'cpu_time_ms',
  peakMemoryBytes: 'peak_memory_bytes',
  coldStart: 'cold_start',
  version: 'version',
};
const JSON_FIELDS = new Set<string>(['result', 'error']);

/** The columns a patch sets and their values. */
export function patchColumns(patch: InvocationPatch): Array<[column: string, value: InvocationValue]> {
  const out: Array<[string, InvocationValue]> = [];
  for (const [field, column] of Object.entries(PATCH_COLUMNS)) {
    const value = (patch as Record<string, unknown>)[field];
    if (value === undefined) continue;
    out.push([column, columnValue(field, value)]);
  }
  return out;
}

function columnValue(field: string, value: unknown): InvocationValue {
  if (JSON_FIELDS.has(field)) return JSON.stringify(value);
  // Both stores take 0/1 for it: SQLite has no booleans, PostgreSQL casts them (invocation-queries.ts).
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value as InvocationValue;
}

/** ms since the epoch of an ISO timestamp. @throws FaasError VALIDATION naming `field` */
export function toMs(iso: string, field: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) {
    throw new FaasError(ErrorCode.VALIDATION, `"${field}" is not a valid timestamp: ${iso}`, {
      details: { field, value: iso },
    });
  }
  return ms;
}

/** An invocation's values in the order of INVOCATION_COLUMNS. @throws FaasError VALIDATION */
export function invocationValues(inv: Invocation): InvocationValue[] {
  return [
    inv.id,
    inv.functionName,
    inv.version,
    inv.mode,
    inv.trigger,
    inv.status,
    inv.idempotencyKey ?? null,
    inv.idempotencyHash ?? null,
    inv.attempts,
    inv.result === undefined ? null : JSON.stringify(inv.result),
    inv.error === undefined ? null : JSON.stringify(inv.error),
    inv.createdAt,
    toMs(inv.createdAt, 'createdAt'),
    inv.startedAt ?? null,
    inv.finishedAt ?? null,
    inv.durationMs ?? null,
    inv.cpuTimeMs ?? null,
    inv.peakMemoryBytes ?? null,
    inv.project ?? DEFAULT_PROJECT,
    inv.coldStart === undefined ? null : inv.coldStart ? 1 : 0,
    inv.traceId ?? null,
  ];
}

export function toInvocation(row: InvocationRow): Invocation {
  const invocation: Invocation = {
    id: row.id,
    project: row.project ?? DEFAULT_PROJECT,
    functionName: row.function_name,
    version: row.version,
    mode: row.mode,
    trigger: row.trigger_kind,
    status: row.status,
    attempts: row.attempts,
    createdAt: row.created_at,
  };
  if (row.idempotency_key !== null) invocation.idempotencyKey = row.idempotency_key;
  if (row.idempotency_hash !== null) invocation.idempotencyHash = row.idempotency_hash;
  if (row.result !== null) invocation.result = JSON.parse(row.result);
  if (row.result_bytes != null) invocation.resultBytes = Number(row.result_bytes);
  if (row.error !== null) invocation.error = JSON.parse(row.error);
  if (row.started_at !== null) invocation.startedAt = row.started_at;
  if (row.finished_at !== null) invocation.finishedAt = row.finished_at;
  if (row.duration_ms !== null) invocation.durationMs = row.duration_ms;
  if (row.cpu_time_ms !== null) invocation.cpuTimeMs = row.cpu_time_ms;
  if (row.peak_memory_bytes !== null) invocation.peakMemoryBytes = row.peak_memory_bytes;
  if (row.cold_start !== null) invocation.coldStart = row.cold_start === true || row.cold_start === 1;
  // Absent from rows made before the column (a store that has not migrated yet answers none).
  if (row.trace_id != null) invocation.traceId = row.trace_id;
  return invocation;
}

export function toLogLine(row: LogRow): StoredLogLine {
  return {
    seq: row.seq,
    invocationId: row.invocation_id,
    functionName: row.function_name,
    ts: row.ts,
    level: row.level,
    message: row.message,
  };
}
