import type {
  ApiKeyRecord,
  FunctionInput,
  FunctionRecord,
  FunctionVersion,
  Invocation,
  LogLine,
  Page,
  PageRequest,
  StoredLogLine,
} from '@faas/core';
import { TERMINAL_STATUSES } from '@faas/core';
import { errorFromResponse, FaasConnectionError } from './errors.ts';

export interface FaaSClientOptions {
  /** @default process.env.FAAS_URL ?? 'http://localhost:8080' */
  baseUrl?: string;
  /** @default process.env.FAAS_API_KEY */
  apiKey?: string;
  fetch?: typeof fetch;
}

/** A function as the API takes it (create, replace, patch). */
export type FunctionSpec = FunctionInput;

export interface InvokeOptions {
  version?: number;
  /** A string is sent as text/plain, bytes as octet-stream, anything else as JSON. */
  idempotencyKey?: string;
}

export interface SyncResult<T = unknown> {
  result: T;
  invocationId: string;
  version: number;
  durationMs: number;
}

export type PublicApiKey = Omit<ApiKeyRecord, 'hash'>;
type RequestBody = string | Uint8Array<ArrayBuffer>;

/** A client of the faas HTTP API (docs/api.md). Every failure is a FaasApiError or FaasConnectionError. */
export class FaaSClient {
  readonly baseUrl: string;
  #apiKey: string | undefined;
  #fetch: typeof fetch;

  constructor(options: FaaSClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? process.env.FAAS_URL ?? 'http://localhost:8080').replace(/\/+$/, '');
    this.#apiKey = options.apiKey ?? process.env.FAAS_API_KEY;
    this.#fetch = options.fetch ?? fetch;
  }

  health(): Promise<{ status: string }> {
    return this.#json('GET', '/health');
  }

  ready(): Promise<{ status: string; checks: Record<string, string> }> {
    return this.#json('GET', '/ready', undefined, [200, 503]);
  }

  createFunction(spec: FunctionSpec & { name: string }): Promise<FunctionRecord> {
    return this.#json('POST', '/api/v1/functions', spec);
  }

  /** Create or replace; `outcome` says whether a version was made. */
  async deploy(name: string, spec: FunctionSpec): Promise<{ record: FunctionRecord; outcome: string }> {
    const res = await this.#request(
      'PUT',
      `/api/v1/functions/${enc(name)}`,
      JSON.stringify(spec),
      'application/json',
    );
    return {
      record: (await res.json()) as FunctionRecord,
      outcome: res.headers.get('x-faas-deploy') ?? 'updated',
    };
  }

  updateFunction(name: string, patch: FunctionSpec): Promise<FunctionRecord> {
    return this.#json('PATCH', `/api/v1/functions/${enc(name)}`, patch);
  }

  getFunction(name: string): Promise<FunctionRecord> {
    return this.#json('GET', `/api/v1/functions/${enc(name)}`);
  }

  listFunctions(page: PageRequest = {}): Promise<Page<FunctionRecord>> {
    return this.#json('GET', `/api/v1/functions${query(page)}`);
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
    await this.#request('DELETE', `/api/v1/functions/${enc(name)}`);
  }

  listVersions(name: string, page: PageRequest = {}): Promise<Page<FunctionVersion>> {
    return this.#json('GET', `/api/v1/functions/${enc(name)}/versions${query(page)}`);
  }

  async invoke<T = unknown>(
    name: string,
    event?: unknown,
    options: InvokeOptions = {},
  ): Promise<SyncResult<T>> {
    const res = await this.#request('POST', this.#invokePath(name, options, false), ...body(event));
    return {
      result: (await res.json()) as T,
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
    const res = await this.#request(
      'POST',
      this.#invokePath(name, options, true),
      payload,
      contentType,
      headers,
    );
    const out = (await res.json()) as { invocationId: string; duplicate?: boolean };
    return { invocationId: out.invocationId, duplicate: out.duplicate === true };
  }

  getInvocation(id: string): Promise<Invocation & { logs: LogLine[] }> {
    return this.#json('GET', `/api/v1/invocations/${enc(id)}`);
  }

  listInvocations(
    filter: { functionName?: string; status?: string; since?: string; until?: string } & PageRequest = {},
  ): Promise<Page<Invocation>> {
    return this.#json('GET', `/api/v1/invocations${query(filter)}`);
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
    return this.#json('GET', `/api/v1/logs${query(options)}`);
  }

  createKey(name: string, role: 'admin' | 'user' = 'user'): Promise<PublicApiKey & { key: string }> {
    return this.#json('POST', '/api/v1/keys', { name, role });
  }

  async listKeys(): Promise<PublicApiKey[]> {
    return ((await this.#json('GET', '/api/v1/keys')) as { items: PublicApiKey[] }).items;
  }

  async revokeKey(id: string): Promise<void> {
    await this.#request('DELETE', `/api/v1/keys/${enc(id)}`);
  }

  #invokePath(name: string, options: InvokeOptions, isAsync: boolean): string {
    const params: Record<string, string> = {};
    if (options.version !== undefined) params.version = String(options.version);
    if (isAsync) params.async = 'true';
    return `/api/v1/functions/${enc(name)}/invoke${query(params)}`;
  }

  async #json<T>(method: string, path: string, payload?: unknown, okStatuses?: number[]): Promise<T> {
    const res = await this.#request(
      method,
      path,
      payload === undefined ? undefined : JSON.stringify(payload),
      payload === undefined ? undefined : 'application/json',
      {},
      okStatuses,
    );
    return (await res.json()) as T;
  }

  async #request(
    method: string,
    path: string,
    payload?: RequestBody,
    contentType?: string,
    extra: Record<string, string> = {},
    okStatuses?: number[],
  ): Promise<Response> {
    const headers: Record<string, string> = { ...extra };
    if (this.#apiKey) headers.authorization = `Bearer ${this.#apiKey}`;
    if (contentType) headers['content-type'] = contentType;
    let res: Response;
    try {
      res = await this.#fetch(this.baseUrl + path, {
        method,
        headers,
        ...(payload !== undefined ? { body: payload } : {}),
      });
    } catch (err) {
      throw new FaasConnectionError(this.baseUrl, err);
    }
    if (okStatuses ? okStatuses.includes(res.status) : res.ok) return res;
    throw await errorFromResponse(res);
  }
}

function body(event: unknown): [RequestBody | undefined, string | undefined] {
  if (event === undefined) return [undefined, undefined];
  if (typeof event === 'string') return [event, 'text/plain; charset=utf-8'];
  if (event instanceof Uint8Array) return [new Uint8Array(event), 'application/octet-stream'];
  return [JSON.stringify(event), 'application/json'];
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

function query(params: object): string {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined && v !== '');
  if (entries.length === 0) return '';
  return `?${new URLSearchParams(entries.map(([k, v]): [string, string] => [k, String(v)])).toString()}`;
}
