import {
  type ApiKeyRecord,
  ERROR_STATUS,
  type FunctionInput,
  type FunctionRecord,
  type FunctionVersion,
  type Invocation,
  type LogLine,
  type Page,
  type PageRequest,
  type RateLimit,
  type SecretSummary,
  type StoredLogLine,
  TERMINAL_STATUSES,
} from './api-types.ts';
import { FaasApiError } from './errors.ts';
import type { InstanceStream, StreamOptions, WebSocketClass } from './instance-stream.ts';
import { type FollowLogsOptions, followLogs, type LogStreamEvent } from './log-follow.ts';
import type { Command, ExecuteRequest, ExecuteResult } from './sandbox-types.ts';
import { type RunOptions, SandboxApi } from './sandboxes.ts';
import type { FunctionStats, FunctionStatsSeries, StatsWindow } from './stats-types.ts';
import { body, enc, parseJson, query, Transport } from './transport.ts';

export interface FaaSClientOptions {
  /** @default process.env.FAAS_URL ?? 'http://localhost:8080' */
  baseUrl?: string;
  /** @default process.env.FAAS_API_KEY */
  apiKey?: string;
  fetch?: typeof fetch;
  /**
   * For `stream`: a WebSocket class where the runtime has none (Node 20: the `ws` package's).
   * @default globalThis.WebSocket
   */
  WebSocket?: WebSocketClass;
}

/** A function as the API takes it (create, replace, patch). */
export type FunctionSpec = FunctionInput;

export interface InvokeOptions {
  version?: number;
  /**
   * `invokeAsync` only: a retry with the same key answers the first invocation. The server keeps
   * no key for a sync invoke, so `invoke` refuses one (a TypeError) rather than run twice.
   */
  idempotencyKey?: string;
}

export interface SyncResult<T = unknown> {
  result: T;
  invocationId: string;
  version: number;
  durationMs: number;
}

export type PublicApiKey = Omit<ApiKeyRecord, 'hash'>;

/** What `updateKey` changes: absent fields stay, `null` removes the limit or the expiry. */
export interface KeyChanges {
  name?: string;
  rateLimit?: RateLimit | null;
  expiresAt?: string | null;
}

export interface DeployOptions {
  /**
   * Hears each slow step of preparing a container version (`installing npm dependencies`,
   * `building faas/node:…`) while the deploy waits for it; asks the server for NDJSON progress.
   */
  onProgress?: (message: string) => void;
}

/** A line of a streamed deploy (`?stream=true`, docs/api.md). */
export type DeployStreamEvent =
  | { type: 'progress'; message: string }
  | { type: 'deployed'; outcome: string; function: FunctionRecord }
  | { type: 'error'; error: { code: string; message: string; details?: unknown } };

/** A client of the faas HTTP API (docs/api.md). Every failure is a FaasApiError or FaasConnectionError. */
/** A project as the API answers it. */
export interface ProjectView {
  name: string;
  createdAt: string;
  /** The host name its declared routes answer on, alone. */
  host?: string;
  quotas?: ProjectQuotaSettings;
}

/** A project's quotas: absent is unlimited (queuedInvocations: the server's FAAS_MAX_QUEUED_PER_PROJECT). */
export interface ProjectQuotaSettings {
  functions?: number;
  concurrentInvocations?: number;
  /** Async invocations accepted and not finished (queued or running). */
  queuedInvocations?: number;
  instances?: number;
  snapshotStorageBytes?: number;
}

/** What `updateProject` changes. */
export interface ProjectSettings {
  /** The host name (a custom domain) its declared routes answer on; null: none. */
  host?: string | null;
  /** Quotas to change: a number sets one, null takes it away (unlimited); others stay. */
  quotas?: { [K in keyof ProjectQuotaSettings]?: number | null };
}

export class FaaSClient {
  readonly baseUrl: string;
  /** Execute, instances, files, the event stream and snapshots (docs/instances.md). */
  readonly sandboxes: SandboxApi;
  #http: Transport;

  constructor(options: FaaSClientOptions = {}) {
    this.#http = new Transport({
      baseUrl: options.baseUrl ?? envVar('FAAS_URL') ?? 'http://localhost:8080',
      apiKey: options.apiKey ?? envVar('FAAS_API_KEY'),
      fetch: options.fetch ?? fetch,
    });
    this.baseUrl = this.#http.baseUrl;
    const webSocket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketClass }).WebSocket;
    this.sandboxes = new SandboxApi(this.#http, webSocket);
  }

  /**
   * Runs a command in a fresh container (the seed's `client.execute(command, image?)`): a string
   * runs with `/bin/sh -c`, an array is argv; a full request sets files, env, limits. A non-zero
   * exit, a timeout or an OOM kill is a result (`exit_code`, `timed_out`, `oom_killed`).
   */
  execute(
    command: Command | ExecuteRequest,
    image?: string,
    options: RunOptions = {},
  ): Promise<ExecuteResult> {
    const request: ExecuteRequest =
      typeof command === 'string' || Array.isArray(command) ? { command } : { ...command };
    if (image !== undefined) request.image = image;
    return this.sandboxes.execute(request, options);
  }

  /**
   * Runs a command in a branch of an earlier run (branched mode): `parent` is a snapshot id or the
   * `execution_id` of a checkpointed or branched run. The branch starts from the parent's state
   * and leaves it unchanged; its result has an `execution_id` of its own to branch from again.
   */
  fork(
    parent: string,
    command: Command,
    request: Omit<ExecuteRequest, 'command'> = {},
    options: RunOptions = {},
  ): Promise<ExecuteResult> {
    return this.sandboxes.executeAdvanced({ ...request, command, mode: 'branched', parent }, options);
  }

  /**
   * An instance's events: `for await (const event of client.stream(id))`, and `send` to run
   * commands in it (see SandboxApi.stream).
   */
  stream(instanceId: string, options: StreamOptions = {}): InstanceStream {
    return this.sandboxes.stream(instanceId, options);
  }

  health(): Promise<{ status: string }> {
    return this.#http.json('GET', '/health');
  }

  ready(): Promise<{ status: string; checks: Record<string, string> }> {
    return this.#http.json('GET', '/ready', undefined, { okStatuses: [200, 503] });
  }

  createFunction(spec: FunctionSpec & { name: string }): Promise<FunctionRecord> {
    return this.#http.json('POST', '/api/v1/functions', spec);
  }

  /**
   * Create or replace; `outcome` says whether a version was made. Resolves once the version is
   * stored, which for a container function is after it was prepared (a refused one rejects).
   */
  async deploy(
    name: string,
    spec: FunctionSpec,
    options: DeployOptions = {},
  ): Promise<{ record: FunctionRecord; outcome: string }> {
    const res = await this.#http.request(
      'PUT',
      `/api/v1/functions/${enc(name)}${options.onProgress ? '?stream=true' : ''}`,
      { body: JSON.stringify(spec), contentType: 'application/json' },
    );
    if (!(res.headers.get('content-type') ?? '').startsWith('application/x-ndjson')) {
      return {
        record: await this.#http.readJson<FunctionRecord>(res),
        outcome: res.headers.get('x-faas-deploy') ?? 'updated',
      };
    }
    for await (const line of this.#http.lines(res)) {
      const event = parseJson<DeployStreamEvent>(res, line);
      if (event.type === 'progress') options.onProgress?.(event.message);
      else if (event.type === 'deployed') return { record: event.function, outcome: event.outcome };
      else if (event.type === 'error') {
        const { code, message, details } = event.error;
        const status = (ERROR_STATUS as Record<string, number | undefined>)[code] ?? 500;
        throw new FaasApiError(status, code, message, details);
      }
    }
    throw this.#http.connectionError(new Error('the deploy stream ended before its last line'));
  }

  updateFunction(name: string, patch: FunctionSpec): Promise<FunctionRecord> {
    return this.#http.json('PATCH', `/api/v1/functions/${enc(name)}`, patch);
  }

  getFunction(name: string): Promise<FunctionRecord> {
    return this.#http.json('GET', `/api/v1/functions/${enc(name)}`);
  }

  listFunctions(page: PageRequest = {}): Promise<Page<FunctionRecord>> {
    return this.#http.json('GET', `/api/v1/functions${query(page)}`);
  }

  /** Every function, page after page. */
  async *functions(pageSize = 100): AsyncGenerator<FunctionRecord> {
    let cursor: string | undefined;
    do {
      const page = await this.listFunctions({ limit: pageSize, ...(cursor ? { cursor } : {}) });
      yield* page.items;
      cursor = page.nextCursor;
    } while (cursor);
  }

  async deleteFunction(name: string): Promise<void> {
    await this.#http.request('DELETE', `/api/v1/functions/${enc(name)}`);
  }

  listVersions(name: string, page: PageRequest = {}): Promise<Page<FunctionVersion>> {
    return this.#http.json('GET', `/api/v1/functions/${enc(name)}/versions${query(page)}`);
  }

  async invoke<T = unknown>(
    name: string,
    event?: unknown,
    options: InvokeOptions = {},
  ): Promise<SyncResult<T>> {
    if (options.idempotencyKey !== undefined) {
      throw new TypeError(
        'invoke: the server ignores idempotencyKey on a sync invoke (a retry would run the function again); use invokeAsync',
      );
    }
    const [payload, contentType] = body(event);
    const res = await this.#http.request('POST', this.#invokePath(name, options, false), {
      body: payload,
      contentType,
    });
    // A function that returned bytes (a Buffer, Python bytes) answers octets.
    const bytes = res.headers.get('content-type') === 'application/octet-stream';
    return {
      result: bytes ? ((await this.#http.bytes(res)) as T) : await this.#http.readJson<T>(res),
      invocationId: res.headers.get('x-invocation-id') ?? '',
      version: Number(res.headers.get('x-function-version')),
      durationMs: Number(res.headers.get('x-duration-ms')),
    };
  }

  async invokeAsync(
    name: string,
    event?: unknown,
    options: InvokeOptions = {},
  ): Promise<{ invocationId: string; duplicate: boolean }> {
    const headers: Record<string, string> = options.idempotencyKey
      ? { 'idempotency-key': options.idempotencyKey }
      : {};
    const [payload, contentType] = body(event);
    const res = await this.#http.request('POST', this.#invokePath(name, options, true), {
      body: payload,
      contentType,
      headers,
    });
    const out = await this.#http.readJson<{ invocationId: string; duplicate?: boolean }>(res);
    return { invocationId: out.invocationId, duplicate: out.duplicate === true };
  }

  getInvocation(id: string): Promise<Invocation & { logs: LogLine[] }> {
    return this.#http.json('GET', `/api/v1/invocations/${enc(id)}`);
  }

  listInvocations(
    filter: { functionName?: string; status?: string; since?: string; until?: string } & PageRequest = {},
  ): Promise<Page<Invocation>> {
    return this.#http.json('GET', `/api/v1/invocations${query(filter)}`);
  }

  /** Polls until the invocation is final. */
  async wait(
    id: string,
    { timeoutMs = 60_000, intervalMs = 200 } = {},
  ): Promise<Invocation & { logs: LogLine[] }> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const inv = await this.getInvocation(id);
      if (TERMINAL_STATUSES.has(inv.status)) return inv;
      if (Date.now() > until)
        throw new Error(`Invocation ${id} is still ${inv.status} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  tailLogs(
    options: { functionName?: string; afterSeq?: number; limit?: number } = {},
  ): Promise<{ items: StoredLogLine[]; nextSeq: number }> {
    return this.#http.json('GET', `/api/v1/logs${query(options)}`);
  }

  /**
   * A function's invocations live (start, log lines, end), reconnecting with the last id seen
   * until `signal` aborts: `for await (const e of client.followLogs('hello', { signal }))`.
   */
  followLogs(functionName: string, options: FollowLogsOptions = {}): AsyncGenerator<LogStreamEvent> {
    return followLogs(this.#http, functionName, options);
  }

  /** Per function: calls, errors, p50/p99 duration over the last minute, hour and day (GET /api/v1/stats). */
  stats(): Promise<{ generatedAt: string; items: FunctionStats[] }> {
    return this.#http.json('GET', '/api/v1/stats');
  }

  /**
   * One function's calls, errors and p50/p99 duration over time (GET /api/v1/functions/{name}/stats):
   * 60 one-minute buckets for `hour`, 24 one-hour buckets for `day`, the current one last.
   * @default window 'hour'
   */
  functionStats(name: string, window: StatsWindow = 'hour'): Promise<FunctionStatsSeries> {
    return this.#http.json('GET', `/api/v1/functions/${enc(name)}/stats${query({ window })}`);
  }

  /** `options.project` defaults to the caller's project; role defaults to `developer`. */
  createKey(
    name: string,
    role: ApiKeyRecord['role'] = 'developer',
    options: Pick<ApiKeyRecord, 'scopes' | 'functions' | 'expiresAt' | 'rateLimit'> & {
      project?: string;
    } = {},
  ): Promise<PublicApiKey & { key: string }> {
    return this.#http.json('POST', '/api/v1/keys', { name, role, ...options });
  }

  createProject(name: string): Promise<{ name: string; createdAt: string }> {
    return this.#http.json('POST', '/api/v1/projects', { name });
  }

  async listProjects(): Promise<ProjectView[]> {
    return ((await this.#http.json('GET', '/api/v1/projects')) as { items: ProjectView[] }).items;
  }

  /**
   * Changes a project's settings (platform admins); fields left out stay as they are.
   * @example
   * await client.updateProject('team-a', { host: 'api.team-a.example.com' }); // null: no host
   */
  updateProject(name: string, settings: ProjectSettings): Promise<ProjectView> {
    return this.#http.json('PATCH', `/api/v1/projects/${encodeURIComponent(name)}`, settings);
  }

  async listKeys(): Promise<PublicApiKey[]> {
    return ((await this.#http.json('GET', '/api/v1/keys')) as { items: PublicApiKey[] }).items;
  }

  /**
   * Changes a key's name, rate limit or expiry; fields left out stay, `null` removes the limit or
   * the expiry. Role, scopes and project never change (make a new key).
   * @example
   * await client.updateKey('key_…', { rateLimit: { requestsPerSecond: 20, burst: 40 } });
   */
  updateKey(id: string, changes: KeyChanges): Promise<PublicApiKey> {
    return this.#http.json('PATCH', `/api/v1/keys/${enc(id)}`, changes);
  }

  async revokeKey(id: string): Promise<void> {
    await this.#http.request('DELETE', `/api/v1/keys/${enc(id)}`);
  }

  /** Creates or replaces a secret of the caller's project; the answer never holds the value. */
  setSecret(name: string, value: string): Promise<SecretSummary> {
    return this.#http.json('PUT', `/api/v1/secrets/${enc(name)}`, { value });
  }

  /** The project's secrets: names and times, never values. */
  async listSecrets(): Promise<SecretSummary[]> {
    return ((await this.#http.json('GET', '/api/v1/secrets')) as { items: SecretSummary[] }).items;
  }

  async deleteSecret(name: string): Promise<void> {
    await this.#http.request('DELETE', `/api/v1/secrets/${enc(name)}`);
  }

  #invokePath(name: string, options: InvokeOptions, isAsync: boolean): string {
    const params: Record<string, string> = {};
    if (options.version !== undefined) params.version = String(options.version);
    if (isAsync) params.async = 'true';
    return `/api/v1/functions/${enc(name)}/invoke${query(params)}`;
  }
}

/** A variable of the environment where there is one: a browser bundle has no `process`. */
function envVar(name: string): string | undefined {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
}
