import { FaasConnectionError } from './errors.ts';
import type { InstanceEvent, StreamCommand } from './sandbox-types.ts';

export interface StreamOptions {
  /** Every event, in order; the first is the instance's `state` (with `instance`). */
  onEvent: (event: InstanceEvent) => void;
  /** The server's heartbeat interval. @default 15000 */
  heartbeatMs?: number;
}

/** An open (or opening) WebSocket to an instance: its events come to `onEvent`. */
export interface InstanceStream {
  /**
   * Resolves when the socket is open; rejects with a FaasApiError when the server refused it (an
   * unknown instance is FAAS_ERR_NOT_FOUND, a bad key 401) or a FaasConnectionError.
   */
  readonly opened: Promise<void>;
  /** Resolves when the socket has closed, by either side (1013: this client was too slow). */
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
): InstanceStream {
  // Node's WebSocket (undici) takes headers in a second argument the DOM typings do not know.
  const socket = new WebSocket(url, { headers } as never);
  const pending: string[] = [];
  let isOpen = false;
  let isClosed = false;

  const opened = new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => {
      isOpen = true;
      for (const message of pending.splice(0)) socket.send(message);
      resolve();
    });
    socket.addEventListener('error', (event) => {
      if (isOpen) return;
      // An ErrorEvent in undici; the DOM's type is not in this project's lib.
      const { error, message } = event as Event & { error?: unknown; message?: string };
      const cause = error ?? new Error(message || 'WebSocket failed');
      whyRefused().then(
        () => reject(new FaasConnectionError(url, cause)),
        (refusal: unknown) => reject(refusal),
      );
    });
  });
  // Awaiting `opened` is optional: a failure must not become an unhandled rejection.
  opened.catch(() => {});

  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.addEventListener('close', (event) => {
      isClosed = true;
      resolve({ code: event.code, reason: event.reason });
    });
  });

  socket.addEventListener('message', (message) => {
    options.onEvent(JSON.parse(String(message.data)) as InstanceEvent);
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
      socket.close();
    },
  };
}
