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

/**
 * A function's invocations live. A dropped connection is opened again with the last id seen
 * (Last-Event-ID), so nothing is missed that the server still keeps; a `gap` event says when
 * something was. Ends when `signal` aborts; an answer that is an error (404, 401) throws.
 */
export async function* followLogs(
  http: Transport,
  functionName: string,
  options: FollowLogsOptions = {},
): AsyncGenerator<LogStreamEvent> {
  let lastEventId = options.lastEventId;
  let opened = false;
  while (!options.signal?.aborted) {
    const parser = new SseParser();
    let res: Response;
    try {
      res = await http.request('GET', `/api/v1/logs/stream${query({ functionName })}`, {
        headers: { accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
        signal: options.signal,
      });
    } catch (err) {
      if (options.signal?.aborted) return;
      // The server answered with an error: no retry makes it right.
      if (!opened || (err as { status?: number }).status !== undefined) throw err;
      await sleep(parser.retryMs ?? DEFAULT_RETRY_MS, options.signal);
      continue;
    }
    if (!opened) {
      opened = true;
      options.onOpen?.();
    }
    try {
      if (res.body) {
        const decoder = new TextDecoder();
        for await (const chunk of res.body) {
          for (const message of parser.push(decoder.decode(chunk as Uint8Array, { stream: true }))) {
            if (message.id) lastEventId = message.id;
            const data = JSON.parse(message.data) as Record<string, unknown>;
            const event = { ...data, type: message.event, ...(message.id ? { id: message.id } : {}) };
            yield event as LogStreamEvent;
          }
        }
      }
    } catch (err) {
      if (options.signal?.aborted) return;
      if (err instanceof SyntaxError) throw http.connectionError(err);
    }
    await sleep(parser.retryMs ?? DEFAULT_RETRY_MS, options.signal);
  }
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
