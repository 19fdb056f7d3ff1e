import { SseParser } from './sse.ts';
import { query, type Transport } from './transport.ts';

/** One event of `GET /api/v1/logs/stream` (docs/api.md "Following a function live"). */
export type LogStreamEvent = { id?: string } & (
  | {
      type: 'start';
      invocationId: string;
      functionName: string;
      version: number;
      mode: 'sync' | 'async';
      trigger: string;
      attempt: number;
      ts: number;
    }
  | { type: 'log'; invocationId: string; functionName: string; ts: number; level: string; message: string }
  | {
      type: 'end';
      invocationId: string;
      functionName: string;
      status: string;
      ts: number;
      durationMs?: number;
      error?: { type: string; message: string };
    }
  /** The server could not resume from the last id: events in between are lost to the stream. */
  | { type: 'gap'; reason: string }
);

export interface FollowLogsOptions {
  /** Resume after this event (an `id` from an earlier stream). */
  lastEventId?: string;
  /** Ends the stream (the iteration returns). */
  signal?: AbortSignal;
  /** Called once the server accepted the stream: events from then on will arrive. */
  onOpen?: () => void;
}

const DEFAULT_RETRY_MS = 1_000;
/** The longest wait between tries while the server cannot be reached (unless it asks for longer). */
export const MAX_RECONNECT_DELAY_MS = 5_000;
/** Answers of a server down for a moment (a gateway restarting behind a proxy): waited out. */
const UNAVAILABLE = new Set([502, 503, 504]);

/**
 * A function's invocations live. A dropped connection is opened again with the last id seen
 * (Last-Event-ID), so nothing is missed that the server still keeps; a `gap` event says when
 * something was. While the server cannot be reached or answers 502, 503 or 504 it is tried again,
 * the waits doubling from its `retry` up to MAX_RECONNECT_DELAY_MS. Ends when `signal` aborts.
 * @throws FaasApiError when the server refuses the stream (first 401, 404…, or on a reconnect)
 * @throws FaasConnectionError when the first connection fails, or the stream is not one (an
 *   event past MAX_SSE_EVENT_CHARS, data that is not JSON): reading it again would fail again
 */
export async function* followLogs(
  http: Transport,
  functionName: string,
  options: FollowLogsOptions = {},
): AsyncGenerator<LogStreamEvent> {
  let lastEventId = options.lastEventId;
  let opened = false;
  let retryMs = DEFAULT_RETRY_MS;
  // Tries in a row that found the server down.
  let failures = 0;
  while (!options.signal?.aborted) {
    let res: Response;
    try {
      res = await http.request('GET', `/api/v1/logs/stream${query({ functionName })}`, {
        headers: { accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
        signal: options.signal,
      });
    } catch (err) {
      if (options.signal?.aborted) return;
      // The first answer says whether following works at all; a refusal later still stands.
      if (!opened || !isUnavailable(err)) throw err;
      await sleep(reconnectDelay(retryMs, failures++), options.signal);
      continue;
    }
    if (!opened) {
      opened = true;
      options.onOpen?.();
    }
    failures = 0;
    const parser = new SseParser();
    let unreadable: unknown;
    try {
      if (res.body) {
        const decoder = new TextDecoder();
        for await (const chunk of res.body) {
          let events: LogStreamEvent[];
          try {
            events = parse(parser, decoder.decode(chunk as Uint8Array, { stream: true }));
          } catch (err) {
            unreadable = err;
            break;
          }
          if (parser.retryMs !== undefined) retryMs = parser.retryMs;
          for (const event of events) {
            if (event.id) lastEventId = event.id;
            yield event;
          }
        }
      }
    } catch {
      // The connection dropped: it is opened again below.
    }
    if (options.signal?.aborted) return;
    if (unreadable !== undefined) throw http.connectionError(unreadable);
    await sleep(retryMs, options.signal);
  }
}

/** The wait before try `failures + 1` to reach a server that was down. */
export function reconnectDelay(retryMs: number, failures: number): number {
  return Math.min(Math.max(retryMs, MAX_RECONNECT_DELAY_MS), retryMs * 2 ** Math.min(failures, 20));
}

/** Unreachable, or a proxy's answer for a server that is not there (yet). */
function isUnavailable(err: unknown): boolean {
  const status = (err as { status?: number }).status;
  return status === undefined || UNAVAILABLE.has(status);
}

/**
 * The events complete in `text`.
 * @throws Error when an event passes MAX_SSE_EVENT_CHARS, SyntaxError when its data is not JSON
 */
function parse(parser: SseParser, text: string): LogStreamEvent[] {
  return parser.push(text).map((message) => {
    const data = JSON.parse(message.data) as Record<string, unknown>;
    return { ...data, type: message.event, ...(message.id ? { id: message.id } : {}) } as LogStreamEvent;
  });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
