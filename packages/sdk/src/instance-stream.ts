import { FaasConnectionError } from './errors.ts';
import type { InstanceEvent, StreamCommand } from './sandbox-types.ts';

/**
 * A WebSocket class: the global one (Node 22 and later, browsers, Deno, Bun) or the `ws`
 * package's on Node 20. It is given the headers as `new WebSocket(url, { headers })`, which both
 * Node's (undici) and `ws` accept; a browser's ignores them (use a key-less proxy there).
 */
export type WebSocketClass = new (url: string, options?: never) => WebSocketLike;

/** The part of a WebSocket the stream uses (the WHATWG interface, which `ws` also implements). */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'error', listener: (event: { error?: unknown; message?: string }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
}

/**
 * Events received but not yet read by an iteration. Past it the stream is closed (code 4000) and
 * the iteration, after the events it has, fails: a stream nobody reads must not fill memory.
 */
export const MAX_UNREAD_EVENTS = 10_000;

export interface StreamOptions {
  /**
   * Every event, in order; the first is the instance's `state` (with `instance`). Without it,
   * iterate the stream instead: `for await (const event of stream)`.
   */
  onEvent?: (event: InstanceEvent) => void;
  /**
   * The server's heartbeat interval. A connection on which nothing, not even a heartbeat, came for
   * MISSED_HEARTBEATS of them is given up: the iteration fails and `closed` resolves (1006).
   * @default 15000
   */
  heartbeatMs?: number;
}

/** The server's default heartbeat interval (`?heartbeat_ms=`, docs/instances.md). */
const DEFAULT_HEARTBEAT_MS = 15_000;

/**
 * Heartbeats missed before the connection counts as gone. A half-open connection (a peer that
 * vanished without a FIN) looks open to the socket forever; only the missing heartbeats show it.
 */
export const MISSED_HEARTBEATS = 3;

/**
 * An open (or opening) WebSocket to an instance. Its events go to `onEvent` when one was given;
 * otherwise iterating the stream yields them in order until it closes (the iteration then ends;
 * breaking out of it closes the stream).
 */
export interface InstanceStream extends AsyncIterable<InstanceEvent> {
  /**
   * Resolves when the socket is open; rejects with a FaasApiError when the server refused it (an
   * unknown instance is FAAS_ERR_NOT_FOUND, a bad key 401) or a FaasConnectionError.
   */
  readonly opened: Promise<void>;
  /**
   * Resolves when the socket has closed, by either side (1013: this client was too slow; 4003:
   * the server sent a frame that is not a JSON event), or with 1006 when this client gave up on a
   * connection that sent no heartbeat.
   */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Sends a command; before `opened` they wait and go in order. Throws once closed. */
  send(command: StreamCommand): void;
  close(): void;
}

/**
 * Opens the stream. `whyRefused` is asked when the socket fails before it opens: the WebSocket API
 * hides the HTTP answer, so the reason comes from a plain request for the same instance.
 */
export function openInstanceStream(
  url: string,
  headers: Record<string, string>,
  options: StreamOptions,
  whyRefused: () => Promise<unknown>,
  WebSocketImpl: WebSocketClass | undefined,
): InstanceStream {
  if (!WebSocketImpl) {
    const why = new Error(
      'this runtime has no global WebSocket (Node 20): pass one, e.g. new FaaSClient({ WebSocket: (await import("ws")).WebSocket })',
    );
    const failed = Promise.reject(new FaasConnectionError(url, why));
    failed.catch(() => {});
    return {
      opened: failed,
      closed: Promise.resolve({ code: 1006, reason: why.message }),
      send() {
        throw new FaasConnectionError(url, why);
      },
      close() {},
      [Symbol.asyncIterator]: () => ({ next: () => failed }),
    };
  }
  const socket = new WebSocketImpl(url, { headers } as never);
  const pending: string[] = [];
  const events = new EventQueue();
  let isOpen = false;
  let isClosed = false;
  // Set once this side closes the stream: later frames are not looked at.
  let isClosing = false;
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const silentMs = MISSED_HEARTBEATS * heartbeatMs;
  let heardAt = 0;
  let silence: ReturnType<typeof setTimeout> | undefined;
  let resolveClosed: (how: { code: number; reason: string }) => void = () => {};
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    resolveClosed = resolve;
  });

  /** Ends the stream from this side: the iteration, after the events it has, fails with `why`. */
  const fail = (why: string, code: number, reason: string) => {
    if (isClosing || isClosed) return;
    isClosing = true;
    events.fail(new FaasConnectionError(url, new Error(why)));
    socket.close(code, reason);
  };

  // One timer for the whole stream, not one per event: it re-arms for what is left.
  const watchSilence = () => {
    const left = heardAt + silentMs - Date.now();
    if (left > 0) {
      silence = setTimeout(watchSilence, left);
      return;
    }
    const why = `no heartbeat for ${silentMs} ms (the server sends one every ${heartbeatMs} ms): the connection is gone`;
    fail(why, 4001, 'no heartbeat');
    // A half-open socket never finishes closing (this side's close included): the stream is over.
    events.end();
    isClosed = true;
    resolveClosed({ code: 1006, reason: why });
  };

  const opened = new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => {
      isOpen = true;
      heardAt = Date.now();
      silence = setTimeout(watchSilence, silentMs);
      for (const message of pending.splice(0)) socket.send(message);
      resolve();
    });
    socket.addEventListener('error', (event) => {
      if (isOpen) return;
      const cause = event.error ?? new Error(event.message || 'WebSocket failed');
      whyRefused().then(
        () => reject(new FaasConnectionError(url, cause)),
        (refusal: unknown) => reject(refusal),
      );
    });
  });
  // Awaiting `opened` is optional: a failure must not become an unhandled rejection.
  opened.catch(() => {});
  // An iteration of a stream that never opened fails with the reason.
  opened.catch((err: unknown) => events.fail(err));

  socket.addEventListener('close', (event) => {
    isClosed = true;
    clearTimeout(silence);
    // The refusal (when it never opened) decides how the iteration ends; it comes later.
    if (isOpen) events.end();
    resolveClosed({ code: event.code, reason: event.reason });
  });

  socket.addEventListener('message', (message) => {
    heardAt = Date.now();
    if (isClosing) return;
    // This runs in the socket's event listener: a throw here would be uncaught and end the process.
    const event = parseEvent(message.data);
    if (typeof event === 'string') {
      fail(`the server sent ${event}`, 4003, 'frames must be JSON events');
      return;
    }
    if (options.onEvent) options.onEvent(event);
    else if (events.size < MAX_UNREAD_EVENTS) events.push(event);
    else fail(`${MAX_UNREAD_EVENTS} events were not read: the stream was closed`, 4000, 'events not read');
  });

  return {
    opened,
    closed,
    send(command) {
      if (isClosed) throw new FaasConnectionError(url, new Error('the stream is closed'));
      const message = JSON.stringify(command);
      if (isOpen) socket.send(message);
      else pending.push(message);
    },
    close() {
      isClosing = true;
      socket.close();
    },
    [Symbol.asyncIterator]() {
      return {
        next: () => events.next(),
        return: async () => {
          isClosing = true;
          socket.close();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

/** The event a frame holds, or what is wrong with it. */
function parseEvent(data: unknown): InstanceEvent | string {
  // The server sends text frames only; a binary one (a Blob, a Buffer) is not ours.
  if (typeof data !== 'string') return 'a binary frame, not a JSON event';
  let event: unknown;
  try {
    event = JSON.parse(data);
  } catch {
    event = undefined;
  }
  if (typeof event === 'object' && event !== null && typeof (event as { type?: unknown }).type === 'string') {
    return event as InstanceEvent;
  }
  return `a frame that is not a JSON event: ${JSON.stringify(data.slice(0, 100))}`;
}

/** Events waiting for an iterator, and iterators waiting for events. */
class EventQueue {
  #events: InstanceEvent[] = [];
  #waiting: Array<{ resolve: (r: IteratorResult<InstanceEvent>) => void; reject: (e: unknown) => void }> = [];
  #ended = false;
  #error: unknown;
  #failed = false;

  get size(): number {
    return this.#events.length;
  }

  push(event: InstanceEvent): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter.resolve({ done: false, value: event });
    else this.#events.push(event);
  }

  end(): void {
    this.#ended = true;
    for (const waiter of this.#waiting.splice(0)) waiter.resolve({ done: true, value: undefined });
  }

  fail(error: unknown): void {
    this.#failed = true;
    this.#error = error;
    for (const waiter of this.#waiting.splice(0)) waiter.reject(error);
  }

  next(): Promise<IteratorResult<InstanceEvent>> {
    const event = this.#events.shift();
    if (event) return Promise.resolve({ done: false, value: event });
    if (this.#failed) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }
}
