/**
 * The API's own types, as the SDK's users see them. The published package must not depend on the
 * server's private `@faas/core`, so these are copies: api-types.test.ts makes tsc check that each
 * one still matches its source in core, both ways, and that the values are equal.
 */

export type FunctionRuntime = 'js' | 'ts' | 'node' | 'python' | 'go' | 'image' | 'wasm';
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS';
export type Isolation = 'runc' | 'gvisor';
export type DependencyCache = 'npm' | 'pip' | 'go' | 'cargo';

/** A declared HTTP route, served at the gateway root: `GET /users/:id`. */
export interface RouteSpec {
  method: HttpMethod | 'ANY';
  path: string;
}

/** Everything about a function that a version freezes, except its code (docs/api.md). */
export interface FunctionConfig {
  runtime: FunctionRuntime;
  /** `file.export`. @default `index.default` (js/ts/node), `main.handler` (python), `main._start` (wasm) */
  handler: string;
  env: Record<string, string>;
  /** @default 30000 */
  timeoutMs: number;
  /** @default 128 */
  memoryMb: number;
  /** @default 32 */
  maxConcurrency: number;
  /** Retries of a failed async invocation. @default 2 */
  maxRetries: number;
  routes: RouteSpec[];
  description: string;
  image?: string;
  command?: string | string[];
  isolation?: Isolation;
  network?: boolean;
  /** Cron expressions (UTC; 5 fields, or 6 with seconds first): each tick is an async invocation. */
  schedules?: string[];
  /** Names of the project's secrets the function sees as env (values are never part of a version). */
  secrets?: string[];
  /** Invocations per second of this function, on every path and gateway; past it 429 FAAS_ERR_RATE_LIMITED. */
  rateLimit?: RateLimit;
}

/** A token bucket: `burst` calls at once, refilled at `requestsPerSecond` (docs/rate-limits.md). */
export interface RateLimit {
  requestsPerSecond: number;
  burst: number;
}

/** One immutable, numbered version of a function. */
export interface FunctionVersion extends FunctionConfig {
  name: string;
  version: number;
  codeSha256: string;
  codeSizeBytes: number;
  artifactSha256: string;
  createdAt: string;
}

/** A function as listed: its name and its latest version. */
export interface FunctionRecord {
  name: string;
  latestVersion: number;
  createdAt: string;
  updatedAt: string;
  latest: FunctionVersion;
}

/** Source of a function: one file's text, files by path, a base64 archive, or a base64 wasm module. */
export type CodeInput =
  | string
  | { files: Record<string, string> }
  | { archive: string; format?: 'zip' | 'tar.gz' | 'tar' }
  /** `wasm` runtime: the module's bytes, base64; stored as `main.wasm`. */
  | { wasm: string };

/** A function as the API receives it (create, replace, patch). */
export interface FunctionInput {
  name?: string;
  runtime?: FunctionRuntime;
  code?: CodeInput;
  handler?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  memoryMb?: number;
  maxConcurrency?: number;
  maxRetries?: number;
  routes?: Array<RouteSpec | string>;
  description?: string;
  image?: string;
  command?: string | string[];
  isolation?: Isolation;
  network?: boolean;
  /** Cron expressions (UTC; 5 fields, or 6 with seconds first): each tick is an async invocation. */
  schedules?: string[];
  /** Names of the project's secrets the function sees as env (values are never part of a version). */
  secrets?: string[];
  /** null removes the function's limit (PATCH). */
  rateLimit?: RateLimit | null;
}

export type InvocationStatus =
  | 'queued'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'timed_out'
  | 'out_of_memory'
  | 'dead_lettered';

/** The statuses an invocation does not leave. */
export const TERMINAL_STATUSES: ReadonlySet<InvocationStatus> = new Set([
  'succeeded',
  'failed',
  'timed_out',
  'out_of_memory',
  'dead_lettered',
]);

export interface InvocationError {
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

export interface StoredLogLine extends LogLine {
  invocationId: string;
  functionName: string;
  /** A cursor for following logs. */
  seq: number;
}

/** One call of a function. */
export interface Invocation {
  id: string;
  functionName: string;
  version: number;
  mode: 'sync' | 'async';
  trigger: 'api' | 'http' | 'schedule';
  status: InvocationStatus;
  idempotencyKey?: string;
  idempotencyHash?: string;
  attempts: number;
  result?: unknown;
  /** In a list: the size of a result over 16 KiB, left out (`getInvocation` has it). */
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
  /** The W3C trace id the invocation ran in, when the call carried one or tracing is on. */
  traceId?: string;
}

/** What a key may do; a role is a set of these (docs/security.md). */
export type Scope =
  | 'functions:read'
  | 'functions:write'
  | 'functions:invoke'
  | 'invocations:read'
  | 'invocations:write'
  | 'sandboxes:read'
  | 'sandboxes:write'
  | 'keys:read'
  | 'keys:write'
  | 'projects:read'
  | 'projects:write'
  | 'settings:write'
  | 'queue:read'
  | 'cluster:read'
  | 'audit:read'
  | 'secrets:read'
  | 'secrets:write';

/** `admin` is the platform's (every project); the others act in their key's project. `user` is `developer`. */
export type ApiKeyRole = 'admin' | 'owner' | 'developer' | 'invoker' | 'viewer' | 'user';

export interface ApiKeyRecord {
  id: string;
  name: string;
  /** The project the key acts in (a platform admin's: where what it makes goes by default). */
  project: string;
  role: ApiKeyRole;
  /** Narrower than the role: only these of its scopes. */
  scopes?: Scope[];
  /** Only these functions of the project. */
  functions?: string[];
  /** ISO time after which the key is refused. */
  expiresAt?: string;
  /** Invocations per second made with this key. */
  rateLimit?: RateLimit;
  prefix: string;
  hash: string;
  createdAt: string;
  revokedAt?: string;
  lastUsedAt?: string;
}

/** A secret as the API shows it: never its value. */
export interface SecretSummary {
  name: string;
  createdAt: string;
  updatedAt: string;
}

export interface PageRequest {
  /** @default 50 */
  limit?: number;
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  /** Absent on the last page. */
  nextCursor?: string;
}

/** An instance as the API shows it (snake_case). */
export interface InstanceView {
  id: string;
  status: 'starting' | 'running' | 'checkpointing' | 'stopping' | 'stopped' | 'failed' | 'deleted' | 'lost';
  reason: string | null;
  image: string;
  command: string[] | null;
  /** Names only: values may be secrets. */
  env: string[];
  isolation: Isolation;
  memory_mb: number;
  cpus: number;
  pids_limit: number;
  disk_mb: number;
  network: boolean;
  idle_ttl_ms: number;
  dependency_caches: DependencyCache[];
  created_at: string;
  last_active_at: string;
  processes: Array<{ process: number; pid?: number; command: string; tty: boolean }>;
  watchers: number;
}

/** A snapshot as the API shows it. */
export interface SnapshotView {
  id: string;
  name: string | null;
  instance_id: string;
  execution_id: string | null;
  kind: 'memory' | 'filesystem';
  image: string;
  isolation: Isolation;
  size_bytes: number;
  created_at: string;
}

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** The HTTP status of each error code (docs/errors.md): a streamed error line carries only its code. */
export const ERROR_STATUS: Readonly<Record<string, number>> = {
  FAAS_ERR_BAD_REQUEST: 400,
  FAAS_ERR_INVALID_JSON: 400,
  FAAS_ERR_VALIDATION: 422,
  FAAS_ERR_BODY_TOO_LARGE: 413,
  FAAS_ERR_UNAUTHORIZED: 401,
  FAAS_ERR_TOKEN_EXPIRED: 401,
  FAAS_ERR_TOKEN_NOT_YET_VALID: 401,
  FAAS_ERR_TOKEN_INVALID: 401,
  FAAS_ERR_FORBIDDEN: 403,
  FAAS_ERR_NOT_FOUND: 404,
  FAAS_ERR_FUNCTION_NOT_FOUND: 404,
  FAAS_ERR_VERSION_NOT_FOUND: 404,
  FAAS_ERR_INVOCATION_NOT_FOUND: 404,
  FAAS_ERR_API_KEY_NOT_FOUND: 404,
  FAAS_ERR_SECRET_NOT_FOUND: 404,
  FAAS_ERR_SECRET_MISSING: 422,
  FAAS_ERR_SECRET_UNREADABLE: 503,
  FAAS_ERR_SECRET_KEY_MISMATCH: 503,
  FAAS_ERR_PROJECT_NOT_FOUND: 404,
  FAAS_ERR_ROUTE_NOT_FOUND: 404,
  FAAS_ERR_FUNCTION_EXISTS: 409,
  FAAS_ERR_PROJECT_EXISTS: 409,
  FAAS_ERR_HOST_TAKEN: 409,
  FAAS_ERR_QUOTA_EXCEEDED: 403,
  FAAS_ERR_ROUTE_CONFLICT: 409,
  FAAS_ERR_CONFLICT: 409,
  FAAS_ERR_NOT_DEAD_LETTERED: 409,
  FAAS_ERR_IDEMPOTENCY_KEY_REUSED: 422,
  FAAS_ERR_COMPILE_ERROR: 422,
  FAAS_ERR_INVALID_ARCHIVE: 422,
  FAAS_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  FAAS_ERR_TOO_MANY_REQUESTS: 429,
  FAAS_ERR_AUTH_THROTTLED: 429,
  FAAS_ERR_RATE_LIMITED: 429,
  FAAS_ERR_INSTANCE_LIMIT: 429,
  FAAS_ERR_FUNCTION_ERROR: 500,
  FAAS_ERR_FUNCTION_TIMEOUT: 504,
  FAAS_ERR_INVALID_FUNCTION_RESPONSE: 502,
  FAAS_ERR_OUT_OF_MEMORY: 500,
  FAAS_ERR_RUNTIME_UNAVAILABLE: 503,
  FAAS_ERR_WORKER_LOST: 502,
  FAAS_ERR_INSTANCE_LOST: 410,
  FAAS_ERR_STORAGE_FULL: 507,
  FAAS_ERR_STORAGE_READ_ONLY: 503,
  FAAS_ERR_STORAGE_UNAVAILABLE: 503,
  FAAS_ERR_RECORDS_BACKLOG: 503,
  FAAS_ERR_DATA_DIR_IN_USE: 409,
  FAAS_ERR_NETWORK_UNAVAILABLE: 503,
  FAAS_ERR_AUTH_UNAVAILABLE: 503,
  FAAS_ERR_NOT_IMPLEMENTED: 501,
  FAAS_ERR_INTERNAL: 500,
};
