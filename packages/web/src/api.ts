/**
 * The public API as the console calls it: same origin, the session cookie (HttpOnly: this code
 * never sees it), and the session's CSRF token on every write.
 */

export interface ApiErrorBody {
  code: string;
  message: string;
  details?: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly body: ApiErrorBody;

  constructor(status: number, body: ApiErrorBody) {
    super(body.message);
    this.status = status;
    this.body = body;
  }
}

let csrfToken: string | undefined;
let onSignedOut: () => void = () => {};

export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

/** Called when the server says the session is over (401), wherever it happens. */
export function whenSignedOut(callback: () => void): void {
  onSignedOut = callback;
}

export interface CallOptions {
  method?: string;
  json?: unknown;
  /** A raw body (an event that is not JSON). */
  body?: BodyInit;
  headers?: Record<string, string>;
}

/** The full response: for invokes, whose headers (duration, version) matter. */
export async function callRaw(path: string, options: CallOptions = {}): Promise<Response> {
  const method =
    options.method ?? (options.json === undefined && options.body === undefined ? 'GET' : 'POST');
  const headers: Record<string, string> = { ...options.headers };
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let body = options.body;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  return fetch(path, { method, headers, body: body ?? null, credentials: 'same-origin' });
}

export async function errorOf(response: Response): Promise<ApiError> {
  const text = await response.text();
  try {
    const parsed = JSON.parse(text) as { error?: ApiErrorBody };
    if (parsed.error) return new ApiError(response.status, parsed.error);
  } catch {
    // not JSON: the status says it
  }
  return new ApiError(response.status, {
    code: `HTTP_${response.status}`,
    message: text || response.statusText,
  });
}

/** JSON in, JSON out; throws ApiError for any answer that is not 2xx. */
export async function call<T>(path: string, options: CallOptions = {}): Promise<T> {
  const response = await callRaw(path, options);
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401 && path !== '/api/v1/session') onSignedOut();
    throw error;
  }
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params))
    if (value !== undefined && value !== '') search.set(key, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
}

export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

export interface SessionInfo {
  auth: boolean;
  key?: { id: string; name: string; role: string; prefix: string };
  csrfToken?: string;
}

export interface FunctionVersion {
  name: string;
  version: number;
  runtime: string;
  handler?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  memoryMb?: number;
  maxConcurrency?: number;
  maxRetries?: number;
  routes?: Array<{ method: string; path: string }>;
  description?: string;
  codeSha256: string;
  codeSizeBytes: number;
  createdAt: string;
}

export interface FunctionRecord {
  name: string;
  latestVersion: number;
  createdAt: string;
  updatedAt: string;
  latest: FunctionVersion;
}

export interface Invocation {
  id: string;
  functionName: string;
  version: number;
  mode: string;
  trigger: string;
  status: string;
  attempts: number;
  result?: unknown;
  error?: { type?: string; message: string; stack?: string };
  createdAt: string;
  durationMs?: number;
  logs?: Array<{ ts: number; level: string; message: string }>;
}

export interface CompileDetail {
  file?: string;
  line?: number;
  column?: number;
  message: string;
}
