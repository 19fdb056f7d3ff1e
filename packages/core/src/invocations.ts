export const INVOCATION_STATUSES = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'timed_out',
  'out_of_memory',
  'dead_lettered',
] as const;
export type InvocationStatus = (typeof INVOCATION_STATUSES)[number];

export const TERMINAL_STATUSES: ReadonlySet<InvocationStatus> = new Set([
  'succeeded',
  'failed',
  'timed_out',
  'out_of_memory',
  'dead_lettered',
]);

/**
 * The error an orphaned async invocation is failed with (its node stopped, or its queue write
 * failed, between its record and its job): it never ran, and never will. Its `type`, `Lost`, is
 * what every invocation failed before its first attempt carries.
 */
export const ORPHAN_ERROR = {
  type: 'Lost',
  message:
    'The node that accepted this invocation stopped (or its queue write failed) before the job was ' +
    'enqueued: it never ran, and its client was not answered 202',
} as const;

export type InvocationMode = 'sync' | 'async';
export type InvocationTrigger = 'api' | 'http' | 'schedule';

export interface InvocationError {
  /** `Error`, `TypeError`, `Timeout`, `OutOfMemory`, … */
  type: string;
  message: string;
  stack?: string;
}

export interface LogLine {
  /** ms since epoch */
  ts: number;
  level: 'debug' | 'info' | 'warn' | 'error' | 'log';
  message: string;
}

/** One call of a function: its lifecycle is keyed by `status`. */
export interface Invocation {
  id: string;
  /** The project of the function invoked. @default DEFAULT_PROJECT */
  project?: string;
  functionName: string;
  version: number;
  mode: InvocationMode;
  trigger: InvocationTrigger;
  status: InvocationStatus;
  idempotencyKey?: string;
  /**
   * With `idempotencyKey`: sha256 of what was asked (the version reference and the event). A
   * repeat of the key asking for something else is refused with FAAS_ERR_IDEMPOTENCY_KEY_REUSED.
   */
  idempotencyHash?: string;
  /** Attempts started so far (async retries count). */
  attempts: number;
  result?: unknown;
  /**
   * In a list only: the result's size in bytes (stored JSON) when it was over
   * LISTED_RESULT_MAX_BYTES and so left out; `GET /invocations/{id}` has it.
   */
  resultBytes?: number;
  error?: InvocationError;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  cpuTimeMs?: number;
  peakMemoryBytes?: number;
  /** Its (last) attempt waited for a new isolate, container or process: a cold start. */
  coldStart?: boolean;
  /**
   * The W3C trace the invocation ran in (32 lowercase hex digits): the caller's `traceparent`,
   * or with tracing on the trace the gateway started. Async attempts join it.
   */
  traceId?: string;
}

/**
 * The largest result (its stored JSON, in bytes) a list of invocations carries: a page of 500
 * results of 6 MB each would be 3 GB read, parsed and written in one answer.
 */
export const LISTED_RESULT_MAX_BYTES = 16 * 1024;

export interface InvocationFilter {
  /** Only this project's invocations. */
  project?: string;
  functionName?: string;
  status?: InvocationStatus;
  /** ISO timestamps, inclusive/exclusive */
  since?: string;
  until?: string;
}
