import type { ApiKeyChanges, ApiKeyRecord } from './api-keys.ts';
import type { AuditEntry, AuditFilter } from './audit.ts';
import type { CorsSettings } from './cors.ts';
import type { FunctionRecord, FunctionVersion, RateLimit, RouteSpec } from './functions.ts';
import type { BackendHealth } from './health.ts';
import type { Invocation, InvocationFilter, LogLine } from './invocations.ts';
import type { Page, PageRequest } from './paging.ts';
import type { ProjectQuotas, ProjectRecord } from './projects.ts';
import type { SnapshotFilter, SnapshotRecord } from './sandboxes.ts';
import type { SecretRecord } from './secrets.ts';

/** A version about to be written: the store assigns `version` and `createdAt`. */
/**
 * A version to store. `createdAt` is the prepared candidate's, so a runtime that knows a version
 * by it (the isolate runtime's pools) finds the one warmed at deploy. @default now
 */
export type NewFunctionVersion = Omit<FunctionVersion, 'version' | 'createdAt'> & { createdAt?: string };

/** A declared route and the function that owns it. */
export interface RouteRecord extends RouteSpec {
  functionName: string;
  /** The host name of the function's project: the route answers requests with that Host only. */
  host?: string;
}

/** Fields of an invocation that change after it is created. */
export type InvocationPatch = Partial<
  Pick<
    Invocation,
    | 'status'
    | 'attempts'
    | 'result'
    | 'error'
    | 'startedAt'
    | 'finishedAt'
    | 'durationMs'
    | 'cpuTimeMs'
    | 'peakMemoryBytes'
    | 'coldStart'
    | 'version'
  >
>;

export interface StoredLogLine extends LogLine {
  invocationId: string;
  functionName: string;
  /** Increases across the whole store: a cursor for following logs. */
  seq: number;
}

/** A log line about to be written: the store assigns `seq`. */
export type NewLogLine = Omit<StoredLogLine, 'seq'>;

/**
 * Metadata of the platform: functions and their versions, routes, invocations and their logs,
 * API keys. Implementations: SQLite (embedded), PostgreSQL. All must pass `defineStoreSuite`.
 *
 * Every method is atomic: a failed call changes nothing.
 */
export interface MetadataStore {
  /** Creates or upgrades the schema. Idempotent. */
  migrate(): Promise<void>;

  /**
   * Creates a function with version 1 and its routes.
   * @throws FaasError FUNCTION_EXISTS when the name is taken; ROUTE_CONFLICT when another
   *   function owns one of the routes; QUOTA_EXCEEDED past the project's `functions` quota
   *   (nothing is written then).
   */
  createFunction(input: NewFunctionVersion): Promise<FunctionRecord>;

  /**
   * Appends version `latestVersion + 1` and replaces the function's routes with its routes.
   * A function of another project than `input.project` (default: DEFAULT_PROJECT) is not found:
   * a version never moves a function to another project.
   * @param expectedLatest when given and the latest version differs, throws CONFLICT
   *   (optimistic concurrency for read-modify-write updates).
   * @throws FaasError FUNCTION_NOT_FOUND, ROUTE_CONFLICT, CONFLICT
   */
  addVersion(input: NewFunctionVersion, expectedLatest?: number): Promise<FunctionRecord>;

  getFunction(name: string): Promise<FunctionRecord | undefined>;
  /**
   * Ordered by name; with `project`, only that project's functions; with `names` (stored names:
   * a key's function list), only those, so a page's cursor never names a function outside them.
   */
  listFunctions(
    page: PageRequest,
    project?: string,
    names?: readonly string[],
  ): Promise<Page<FunctionRecord>>;
  /** Deletes the function, its versions and routes; invocations stay. Returns false if absent. */
  deleteFunction(name: string): Promise<boolean>;

  getVersion(name: string, version: number): Promise<FunctionVersion | undefined>;
  /** Newest first. */
  listVersions(name: string, page: PageRequest): Promise<Page<FunctionVersion>>;

  /** Every declared route. */
  listRoutes(): Promise<RouteRecord[]>;
  /**
   * A number that grows whenever routes or functions change; lets a gateway poll cheaply for
   * changes made by other processes (seed 000's timestamp sync).
   */
  routesRevision(): Promise<number>;
  /**
   * Optional: calls `listener` soon after `routesRevision` moves, whoever moved it (this process
   * or another on the same data), so caches refresh without waiting for their next poll. A store
   * that cannot push changes leaves it out, and callers poll `routesRevision`. After a lost
   * connection the listener is called once it is back (changes may have gone unannounced).
   * Returns a function that removes the listener.
   * @example
   * const stop = store.watchRoutesRevision?.(() => void routeSync.poll());
   */
  watchRoutesRevision?(listener: () => void): () => void;

  /**
   * Creates an invocation. When `idempotencyKey` is set and an invocation of the same function
   * with that key exists, returns that one with `created: false` and writes nothing.
   * @param options.maxQueued the most async invocations of its project that may be queued or
   *   running (this one not counted); absent: no limit. Counted in the statement or transaction
   *   that writes it, so writers at the same instant overshoot it by at most one per connection.
   *   A repeat of an existing key is answered, however full.
   * @throws FaasError QUOTA_EXCEEDED (429, `queuedInvocations`) past `maxQueued`; nothing is written
   */
  createInvocation(
    invocation: Invocation,
    options?: { maxQueued?: number },
  ): Promise<{ invocation: Invocation; created: boolean }>;
  /**
   * Writes several new invocations at once with their log lines (sync invocations, batched off
   * the hot path), atomically: a reader never finds one of them without its lines. An id or
   * idempotency key already present is skipped, and so are the lines of the invocation skipped,
   * so a batch written again after a failure whose outcome was unknown writes nothing twice.
   * Lines of invocations not in the batch are written as `appendLogs` would.
   */
  createInvocations(invocations: Invocation[], logs?: NewLogLine[]): Promise<void>;
  /** @throws FaasError INVOCATION_NOT_FOUND */
  updateInvocation(id: string, patch: InvocationPatch): Promise<Invocation>;
  /**
   * Records attempt `attempt` of an (async) invocation: its start (`status: 'running'`), a retry
   * to come (`'queued'`) or its end, and appends the attempt's log lines, in one atomic step,
   * fenced: it applies only while no later attempt is recorded (`attempts <= attempt`) and the
   * invocation has not finished (its status is not terminal), and it sets `attempts` to
   * `attempt`. A run that lost its lease may still be finishing while the next attempt runs: its
   * write must land nothing over the current one.
   * @returns the updated invocation, or undefined (nothing written) when fenced off or absent.
   * @example
   * // The holder of attempt 2 starts; a late write of attempt 1 is then refused.
   * await store.recordAttempt(id, 2, { status: 'running', startedAt });
   * await store.recordAttempt(id, 1, { status: 'succeeded', result }, logs); // undefined
   */
  recordAttempt(
    id: string,
    attempt: number,
    patch: Omit<InvocationPatch, 'attempts'>,
    logs?: NewLogLine[],
  ): Promise<Invocation | undefined>;
  /**
   * Frees the idempotency key of an async invocation that never ran: one failed at attempt 0
   * (it was never accepted: its node stopped before enqueuing it, or the queue refused it). The
   * client was not answered 202, so its retry with that key must make a new invocation, not
   * return the failed one. Fenced: an invocation that started or has not failed keeps its key.
   * @returns whether a key was freed
   */
  releaseIdempotencyKey(id: string): Promise<boolean>;
  getInvocation(id: string): Promise<Invocation | undefined>;
  /** Newest first. */
  listInvocations(filter: InvocationFilter, page: PageRequest): Promise<Page<Invocation>>;
  /**
   * Retention: deletes finished invocations (terminal status) with their log lines, those created
   * before `createdBefore` and, with `keepNewest`, those older than the newest `keepNewest`
   * invocations (all statuses count toward it). An invocation still queued or running is never
   * deleted. Bounded work per call, so no call holds the database long: at most `limit` log lines
   * and `limit` invocations; an invocation goes once its lines are gone. Callers loop until a call
   * deletes nothing.
   * @example
   * while (true) {
   *   const done = await store.deleteOldInvocations({ createdBefore: cutoff, limit: 500 });
   *   if (done.invocations + done.logLines === 0) break;
   * }
   */
  deleteOldInvocations(options: {
    createdBefore?: string;
    keepNewest?: number;
    limit: number;
  }): Promise<{ invocations: number; logLines: number }>;

  /**
   * Per function with invocations created at or after `sinceMs` (ms since the epoch): how many,
   * how many ended in error (failed, timed_out, out_of_memory, dead_lettered), and the
   * nearest-rank p50/p99 of the durations recorded (absent when none is). By function name.
   * With `project`, that project's functions only.
   */
  invocationStats(sinceMs: number, project?: string): Promise<FunctionInvocationStats[]>;
  /**
   * One function's invocations of one project created in `[sinceMs, sinceMs + buckets *
   * bucketMs)`, in buckets of `bucketMs`: the same numbers as `invocationStats` per bucket.
   * Only buckets with an invocation are answered, oldest first; `index` counts from `sinceMs`
   * (bucket i starts at `sinceMs + i * bucketMs`). One query.
   * @example
   * // The last hour by minute, the current minute last.
   * const minute = 60_000;
   * const since = Math.floor(Date.now() / minute) * minute - 59 * minute;
   * await store.invocationTimeSeries({ functionName: 'f', project: 'default', sinceMs: since, bucketMs: minute, buckets: 60 });
   */
  invocationTimeSeries(options: InvocationTimeSeriesQuery): Promise<InvocationBucketStats[]>;

  appendLogs(lines: NewLogLine[]): Promise<void>;
  /** Lines of one invocation in order. */
  getLogs(invocationId: string): Promise<StoredLogLine[]>;
  /**
   * Lines with `seq > afterSeq`, optionally of one function and of one project's invocations,
   * oldest first, at most `limit`.
   */
  tailLogs(options: {
    functionName?: string;
    project?: string;
    afterSeq: number;
    limit?: number;
  }): Promise<StoredLogLine[]>;

  createApiKey(key: ApiKeyRecord): Promise<void>;
  /** Active (not revoked) key with this hash. */
  findApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** Returns false when no such active key exists. */
  revokeApiKey(id: string): Promise<boolean>;
  /** Changes an active key; undefined when no such active key exists. */
  updateApiKey(id: string, changes: ApiKeyChanges): Promise<ApiKeyRecord | undefined>;
  countApiKeys(): Promise<number>;

  /**
   * Creates or replaces a project's secret; a replaced one keeps its `createdAt`. The store
   * holds only what it is given: the caller encrypts.
   */
  putSecret(secret: SecretRecord): Promise<void>;
  /**
   * Puts `next` in place of a secret's ciphertext and key id only while its ciphertext is still
   * `expected` (times kept): re-encrypting what it read earlier must not undo a value set since.
   * False when the secret changed or is gone.
   */
  replaceSecretCiphertext(
    project: string,
    name: string,
    expected: string,
    next: Pick<SecretRecord, 'ciphertext' | 'keyId'>,
  ): Promise<boolean>;
  /** The project's secrets of these names that exist (in no particular order). */
  getSecrets(project: string, names: readonly string[]): Promise<SecretRecord[]>;
  /** A project's secrets, or every project's when `project` is undefined; by project, then name. */
  listSecrets(project?: string): Promise<SecretRecord[]>;
  /** Returns false when the project has no such secret. */
  deleteSecret(project: string, name: string): Promise<boolean>;

  /** @throws FaasError PROJECT_EXISTS when the name is taken. */
  createProject(project: ProjectRecord): Promise<void>;
  getProject(name: string): Promise<ProjectRecord | undefined>;
  /** Ordered by name. */
  listProjects(): Promise<ProjectRecord[]>;
  /**
   * Gives a project a host name for its declared routes, or takes it away (`undefined`), and
   * moves `routesRevision`. Atomic with function writes: routes a project keeps when it loses its
   * host must not conflict with those of other projects without a host.
   * @throws FaasError PROJECT_NOT_FOUND; HOST_TAKEN when another project has the host;
   *   ROUTE_CONFLICT (naming nothing of the other project) when taking the host away would make
   *   two projects' routes match the same requests.
   */
  setProjectHost(name: string, host: string | undefined): Promise<ProjectRecord>;
  /**
   * Replaces a project's quotas (`{}`: none) and moves `routesRevision` (caches of quotas reload
   * with the routes). `createFunction` and `createSnapshot` enforce `functions` and
   * `snapshotStorageBytes` in their own transaction, so concurrent writes cannot pass them.
   * @throws FaasError PROJECT_NOT_FOUND
   */
  setProjectQuotas(name: string, quotas: ProjectQuotas): Promise<ProjectRecord>;
  /**
   * Sets (or, undefined, removes) a project's rate limit; resolves to the project.
   * @throws FaasError PROJECT_NOT_FOUND
   */
  setProjectRateLimit(name: string, rateLimit: RateLimit | undefined): Promise<ProjectRecord>;
  /**
   * Sets (or, undefined, removes) a project's CORS settings and moves the routes' revision, so
   * every gateway (thread or server) reloads its projects; resolves to the project.
   * @throws FaasError PROJECT_NOT_FOUND
   */
  setProjectCors(name: string, cors: CorsSettings | undefined): Promise<ProjectRecord>;

  appendAudit(entry: AuditEntry): Promise<void>;
  /** Newest first. */
  listAudit(filter: AuditFilter, page: PageRequest): Promise<Page<AuditEntry>>;
  /** Deletes up to `limit` entries older than `before` (ISO); resolves to how many. */
  deleteOldAudit(options: { before: string; limit: number }): Promise<number>;

  /** @throws FaasError QUOTA_EXCEEDED past the project's `snapshotStorageBytes` quota (with it) */
  createSnapshot(snapshot: SnapshotRecord): Promise<void>;
  getSnapshot(id: string): Promise<SnapshotRecord | undefined>;
  /** Newest first. */
  listSnapshots(filter: SnapshotFilter, page: PageRequest): Promise<Page<SnapshotRecord>>;
  /** Returns false when no such snapshot exists. */
  deleteSnapshot(id: string): Promise<boolean>;

  /** Which of these blobs a function version (its code or artifact) or a snapshot names. */
  blobsNamed(sha256s: readonly string[]): Promise<Set<string>>;

  /** A small key/value space for platform settings (e.g. the cache of compiled artifacts). */
  getSetting(key: string): Promise<string | undefined>;
  setSetting(key: string, value: string): Promise<void>;
  /**
   * Sets `key` to `value` unless it holds one already, atomically (of servers racing on an empty
   * store, one wins); resolves to what it holds afterwards.
   */
  claimSetting(key: string, value: string): Promise<string>;

  /** Cheap liveness check of the backing database. */
  ping(): Promise<void>;
  /**
   * Whether the backend answers and its recent calls did not fail on the storage (a full disk
   * fails writes while reads still work), for `/ready`. Never throws.
   */
  health(): Promise<BackendHealth>;
  close(): Promise<void>;
}

/** Which invocations `MetadataStore.invocationTimeSeries` counts, and in which buckets. */
export interface InvocationTimeSeriesQuery {
  functionName: string;
  project: string;
  /** Start of the first bucket, ms since the epoch. */
  sinceMs: number;
  /** A positive whole number of ms. */
  bucketMs: number;
  /** How many buckets follow `sinceMs`: later invocations are not counted. */
  buckets: number;
}

/** One bucket of `MetadataStore.invocationTimeSeries`. */
export interface InvocationBucketStats {
  /** The bucket's place from `sinceMs`: it starts at `sinceMs + index * bucketMs`. */
  index: number;
  calls: number;
  errors: number;
  p50Ms?: number;
  p99Ms?: number;
}

/** What `MetadataStore.invocationStats` answers per function. */
export interface FunctionInvocationStats {
  functionName: string;
  calls: number;
  errors: number;
  /** Invocations whose (last) attempt was a cold start (`Invocation.coldStart`). */
  coldStarts: number;
  p50Ms?: number;
  p99Ms?: number;
}
