/**
 * Types for writing functions (docs/runtimes/isolate.md "What a function is", docs/api.md
 * "Routes"): `export default (async (event, context) => …) satisfies Handler<HttpEvent>`.
 * Type-only: nothing here runs in the function.
 */

/**
 * Logs at a level. (In js/ts functions `context.log(...)` itself logs at `info` too; node
 * container functions have only the methods, so the type has only them.)
 */
export interface FunctionLogger {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/** The second argument of a handler. */
export interface Context {
  invocationId: string;
  functionName: string;
  version: number;
  /** ms since the epoch. */
  deadline: number;
  getRemainingTimeMs(): number;
  /** The function's `env` (frozen; `process.env` is a copy it may change). */
  env: Readonly<Record<string, string>>;
  log: FunctionLogger;
}

/**
 * The event of an invocation through a declared route or `/fn/{name}/*`. `body` is a string,
 * base64 when `isBase64Encoded`.
 */
export interface HttpEvent {
  method: string;
  path: string;
  params: Record<string, string>;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: boolean;
}

/** A result of this shape becomes the HTTP response of a route; any other is sent as JSON. */
export interface HttpResponse {
  statusCode: number;
  headers?: Record<string, string>;
  /** A string, bytes, or a value sent as JSON. */
  body?: unknown;
  isBase64Encoded?: boolean;
}

/**
 * A function's handler: an event (a JSON value, a string for text bodies, a Uint8Array for
 * binary ones) and the context in; a JSON-serialisable value or bytes out, sync or async.
 */
export type Handler<Event = unknown, Result = unknown> = (
  event: Event,
  context: Context,
) => Result | Promise<Result>;

/** A handler behind an HTTP route. */
export type HttpHandler = Handler<HttpEvent, HttpResponse | unknown>;
