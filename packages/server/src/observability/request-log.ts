import type { Config } from '@faas/core';
import { destination, type Logger, pino } from 'pino';

/**
 * What one answered request's line says. Only these fields reach the line: the request's headers,
 * query string and body never do (they carry keys, session cookies and stream tickets).
 */
export interface RequestLogEntry {
  method: string;
  /**
   * The route's pattern (`/api/v1/instances/:id/stream`), not the path: an HTTP trigger's path is
   * the function's own and may carry its secrets (a webhook token), and a query string may carry
   * a stream ticket.
   */
  route: string;
  /** The status the client got; CLIENT_CLOSED_REQUEST when it went away before any answer. */
  status: number;
  durationMs: number;
  /** The id of the API key the request acted as (never the key), when one was accepted. */
  keyId?: string | undefined;
  /** The invocation the request made or answered, when there is one. */
  invocationId?: string | undefined;
  /** The W3C trace of an invoking request: the caller's, or the gateway's with tracing on. */
  traceId?: string | undefined;
}

/**
 * The status a request's line and metrics have when its client went away before it was answered
 * (it closed the connection mid-body, or while the function ran): no answer was sent, so none
 * is logged. nginx's convention ("client closed request"), a status HTTP does not define, so it
 * never reads as one that was sent.
 */
export const CLIENT_CLOSED_REQUEST = 499;

/**
 * One JSON line per answered HTTP request, at FAAS_LOG_LEVEL (`info`; a 5xx is `error`), on
 * stdout. Each gateway thread has its own; lines go out through pino's asynchronous destination,
 * so a slow stdout (a pipe a log shipper drains late) never blocks the thread that serves.
 */
export class RequestLog {
  #logger: Logger | undefined;
  #out: ReturnType<typeof destination> | undefined;
  #info: boolean;
  #error: boolean;
  #failed = false;

  constructor(level: Config['logLevel'], fd = 1) {
    if (level === 'silent') {
      this.#info = false;
      this.#error = false;
      return;
    }
    this.#out = destination({ dest: fd, sync: false });
    // stdout gone (the log shipper's pipe closed): the lines stop, the server goes on serving.
    this.#out.on('error', () => {
      this.#info = false;
      this.#error = false;
      this.#failed = true;
    });
    this.#logger = pino({ level, base: { pid: process.pid } }, this.#out);
    this.#info = this.#logger.isLevelEnabled('info');
    this.#error = this.#logger.isLevelEnabled('error');
  }

  write(entry: RequestLogEntry): void {
    if (entry.status >= 500 ? !this.#error : !this.#info) return;
    const line: Record<string, unknown> = {
      method: entry.method,
      route: entry.route,
      status: entry.status,
      durationMs: Math.round(entry.durationMs * 1000) / 1000,
    };
    if (entry.keyId !== undefined) line.keyId = entry.keyId;
    if (entry.invocationId !== undefined) line.invocationId = entry.invocationId;
    if (entry.traceId !== undefined) line.traceId = entry.traceId;
    if (entry.status >= 500) this.#logger?.error(line, 'request');
    else this.#logger?.info(line, 'request');
  }

  /**
   * Writes what is still buffered and waits for the write already on its way, for at most
   * CLOSE_WAIT_MS (a stdout nobody reads must not hold up shutdown): at shutdown, a line of the
   * last requests is not lost. Closes the destination, never stdout or stderr.
   */
  close(): Promise<void> {
    this.#info = false;
    this.#error = false;
    const out = this.#out;
    this.#out = undefined;
    if (!out) return Promise.resolve();
    if (this.#failed) {
      out.destroy();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      setTimeout(resolve, CLOSE_WAIT_MS).unref();
      out.once('close', resolve);
      out.once('error', () => resolve());
      out.end();
    });
  }
}

const CLOSE_WAIT_MS = 2_000;

/** The invocation id an answer carries (the `x-invocation-id` header every invoke answer has). */
export function invocationIdOf(header: unknown): string | undefined {
  return typeof header === 'string' ? header : undefined;
}
