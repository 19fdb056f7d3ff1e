import { errorFromResponse, FaasApiError, FaasConnectionError } from './errors.ts';

export type RequestBody = string | Uint8Array<ArrayBuffer>;

/**
 * The longest NDJSON line taken. The server's longest is an execute output chunk: up to 1 MiB of
 * output, up to 6 MiB as JSON (control bytes become `\u00XX`); past this, no line is coming.
 */
export const MAX_NDJSON_LINE_CHARS = 16 * 1024 * 1024;

export interface TransportOptions {
  baseUrl: string;
  apiKey?: string | undefined;
  fetch: typeof fetch;
}

export interface RequestOptions {
  body?: RequestBody | undefined;
  contentType?: string | undefined;
  headers?: Record<string, string>;
  /** Statuses that are answers, not errors. @default any 2xx */
  okStatuses?: number[];
  /** Aborting rejects with the signal's reason (and closes the connection). */
  signal?: AbortSignal | undefined;
}

/**
 * The HTTP plumbing the clients share: the bearer key, JSON bodies, and the one rule that every
 * failure is a FaasApiError (the server answered) or a FaasConnectionError (it could not).
 */
export class Transport {
  readonly baseUrl: string;
  #apiKey: string | undefined;
  #fetch: typeof fetch;

  constructor(options: TransportOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#apiKey = options.apiKey;
    this.#fetch = options.fetch;
  }

  /** The authorization header, for connections fetch does not make (WebSocket). */
  authHeaders(): Record<string, string> {
    return this.#apiKey ? { authorization: `Bearer ${this.#apiKey}` } : {};
  }

  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...options.headers, ...this.authHeaders() };
    if (options.contentType) headers['content-type'] = options.contentType;
    let res: Response;
    try {
      res = await this.#fetch(this.baseUrl + path, {
        method,
        headers,
        ...(options.body !== undefined ? { body: options.body } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      throw this.connectionError(err, options.signal);
    }
    if (options.okStatuses ? options.okStatuses.includes(res.status) : res.ok) return res;
    throw await errorFromResponse(res);
  }

  /** Sends `payload` as JSON (when given) and parses the JSON answer. */
  async json<T>(
    method: string,
    path: string,
    payload?: unknown,
    options: Omit<RequestOptions, 'body' | 'contentType'> = {},
  ): Promise<T> {
    const res = await this.request(method, path, {
      ...options,
      ...(payload !== undefined ? { body: JSON.stringify(payload), contentType: 'application/json' } : {}),
    });
    return this.readJson<T>(res, options.signal);
  }

  async readJson<T>(res: Response, signal?: AbortSignal): Promise<T> {
    return parseJson<T>(res, await this.text(res, signal));
  }

  async text(res: Response, signal?: AbortSignal): Promise<string> {
    try {
      return await res.text();
    } catch (err) {
      throw this.connectionError(err, signal);
    }
  }

  async bytes(res: Response, signal?: AbortSignal): Promise<Uint8Array> {
    try {
      return new Uint8Array(await res.arrayBuffer());
    } catch (err) {
      throw this.connectionError(err, signal);
    }
  }

  /**
   * The non-empty lines of a streamed (NDJSON) answer, as they arrive.
   * @throws FaasConnectionError on a line past MAX_NDJSON_LINE_CHARS (the rest is not read)
   */
  async *lines(res: Response, signal?: AbortSignal): AsyncGenerator<string> {
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buffered = '';
    const tooLong = () => new Error(`an NDJSON line passed ${MAX_NDJSON_LINE_CHARS} characters`);
    try {
      for await (const chunk of res.body) {
        // Only the new text can end the buffered line: the old is not searched again.
        let newline = buffered.length;
        buffered += decoder.decode(chunk, { stream: true });
        newline = buffered.indexOf('\n', newline);
        while (newline >= 0) {
          if (newline > MAX_NDJSON_LINE_CHARS) throw tooLong();
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          if (line.trim()) yield line;
          newline = buffered.indexOf('\n');
        }
        if (buffered.length > MAX_NDJSON_LINE_CHARS) throw tooLong();
      }
    } catch (err) {
      throw this.connectionError(err, signal);
    }
    if (buffered.trim()) yield buffered;
  }

  /** A caller's abort stays what it was; anything else broke the connection. */
  connectionError(err: unknown, signal?: AbortSignal): unknown {
    if (signal?.aborted) return signal.reason;
    return new FaasConnectionError(this.baseUrl, err);
  }
}

/** A success answer that should be JSON; anything else is reported as the server's fault. */
export function parseJson<T>(res: Response, text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new FaasApiError(res.status, `HTTP_${res.status}`, `Expected JSON, got: ${text.slice(0, 200)}`);
  }
}

/** A string is sent as text/plain, bytes as octet-stream, anything else as JSON. */
export function body(event: unknown): [RequestBody | undefined, string | undefined] {
  if (event === undefined) return [undefined, undefined];
  if (typeof event === 'string') return [event, 'text/plain; charset=utf-8'];
  if (event instanceof Uint8Array) return [new Uint8Array(event), 'application/octet-stream'];
  return [JSON.stringify(event), 'application/json'];
}

export function enc(s: string): string {
  return encodeURIComponent(s);
}

export function query(params: object): string {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined && v !== '');
  if (entries.length === 0) return '';
  return `?${new URLSearchParams(entries.map(([k, v]): [string, string] => [k, String(v)])).toString()}`;
}
