import { chmod, chown, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { LogLine } from '@faas/core';
import {
  type AgentError,
  type AgentMessage,
  type AgentMessageLimits,
  AgentProtocolError,
  type AgentResult,
  LineSplitter,
  maxMessageBytes,
  parseAgentMessage,
} from './agent-messages.ts';

export { AgentProtocolError, type AgentResult } from './agent-messages.ts';

/** What the host tells the agent to load. */
export interface LoadRequest {
  dir: string;
  handler: string;
  env: Record<string, string>;
  fn: { name: string; version: number; memoryMb: number; timeoutMs: number };
}

export interface InvokeMessage {
  id: string;
  event: unknown;
  deadline: number;
  onLog: (level: LogLine['level'], message: string) => void;
  /** The trace the invocation runs in: the function's `context.traceId` and `context.traceparent`. */
  trace?: { traceId: string; traceparent: string };
}

export interface ChannelOptions {
  /** The agent's uid and gid: the socket is theirs alone, so the function's uid cannot connect. */
  agentUid: number;
  agentGid: number;
  limits: AgentMessageLimits;
  /** What the agent may send while no call is pending before it is cut off. @default IDLE_OUTPUT_BYTES */
  idleOutputBytes?: number;
  /** Hears why a connection was cut off that nothing pending would report (idle output). */
  warn?: (message: string, err: Error) => void;
}

/**
 * Between calls the agent has nothing to say but stray log lines (a timer's, a child process's
 * stdout), which no one reads: each is still read and parsed, so past this much the connection
 * ends. Pausing the socket instead would hide an idle crash (its `fatal`, its close) until the
 * next call, which would fail with it.
 */
export const IDLE_OUTPUT_BYTES = 1024 * 1024;

/** The agent's connection ended: the process in the container is gone. */
export class AgentGoneError extends Error {
  constructor() {
    super('The function process exited');
    this.name = 'AgentGoneError';
  }
}

/** The agent did not answer `load` in time (top-level code that never finishes). */
export class LoadTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoadTimeoutError';
  }
}

/** The agent said the function's process broke (crash, exit, garbage on its channel). */
export class AgentFatalError extends Error {
  readonly error: AgentError;
  constructor(error: AgentError) {
    super(error.message);
    this.name = 'AgentFatalError';
    this.error = error;
  }
}

type Pending =
  | { kind: 'hello'; resolve: () => void; reject: (err: Error) => void }
  | { kind: 'load'; resolve: (error: AgentError | undefined) => void; reject: (err: Error) => void }
  | {
      kind: 'invoke';
      id: string;
      onLog: InvokeMessage['onLog'];
      resolve: (result: AgentResult) => void;
      reject: (err: Error) => void;
    };

/**
 * The host's end of one container's agent connection. The host listens on a Unix socket in the
 * container's folder (bind-mounted read-only at /faas), owned by the agent's uid with mode 0600,
 * and stops listening once the agent has connected: nothing else in the container can connect.
 * One request at a time, newline-delimited JSON. What the agent sends is untrusted: a message
 * that breaks the protocol (images/agent/PROTOCOL.md) fails what is pending with an
 * `AgentProtocolError` and ends the connection, and the container is removed.
 */
export class AgentChannel {
  #server: Server;
  #path: string;
  #limits: AgentMessageLimits;
  #splitter: LineSplitter;
  #socket: Socket | undefined;
  #pending: Pending | undefined;
  #closed = false;
  #helloSeen = false;
  #onGone: (() => void) | undefined;
  #idleOutputBytes: number;
  /** Bytes read since the last call ended (or the connection began) while none was pending. */
  #idleBytes = 0;
  #warn: ChannelOptions['warn'];

  private constructor(server: Server, path: string, options: ChannelOptions) {
    this.#server = server;
    this.#path = path;
    this.#limits = options.limits;
    this.#idleOutputBytes = options.idleOutputBytes ?? IDLE_OUTPUT_BYTES;
    this.#warn = options.warn;
    this.#splitter = new LineSplitter(maxMessageBytes(options.limits));
    server.on('connection', (socket) => this.#accept(socket));
  }

  /** Listens at `path` (removed first when left over), connectable by the agent's uid only. */
  static async listen(path: string, options: ChannelOptions): Promise<AgentChannel> {
    if (Buffer.byteLength(path) > 100) {
      throw new Error(`Agent socket path is too long for a Unix socket (${path}): use a shorter data dir`);
    }
    await rm(path, { force: true });
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    try {
      await chown(path, options.agentUid, options.agentGid);
      await chmod(path, 0o600);
    } catch (err) {
      server.close();
      throw new Error(
        `Handing the agent socket to uid ${options.agentUid} failed (${(err as Error).message}): the server must run as root to run node and python functions`,
      );
    }
    return new AgentChannel(server, path, options);
  }

  get connected(): boolean {
    return this.#socket !== undefined && !this.#closed;
  }

  /** Called once when the connection ends (the agent left or broke the protocol), not on close(). */
  onGone(listener: () => void): void {
    this.#onGone = listener;
  }

  /** Resolves when the agent has connected and said hello. */
  waitForHello(timeoutMs: number): Promise<void> {
    if (this.#helloSeen) return Promise.resolve();
    return this.#withTimeout(
      new Promise<void>((resolve, reject) => {
        this.#pending = { kind: 'hello', resolve, reject };
      }),
      timeoutMs,
      'The agent did not connect',
    );
  }

  /** Loads the handler; resolves with the load error, if any. */
  load(request: LoadRequest, timeoutMs: number): Promise<AgentError | undefined> {
    const done = new Promise<AgentError | undefined>((resolve, reject) => {
      this.#pending = { kind: 'load', resolve, reject };
    });
    this.#send({ t: 'load', ...request, limits: this.#limits });
    return this.#withTimeout(done, timeoutMs, 'Loading the handler did not finish').catch((err: Error) => {
      throw err instanceof AgentGoneError ||
        err instanceof AgentProtocolError ||
        err instanceof AgentFatalError
        ? err
        : new LoadTimeoutError(err.message);
    });
  }

  /** Runs one invocation; the caller enforces the deadline (by killing the container). */
  invoke(message: InvokeMessage): Promise<AgentResult> {
    const done = new Promise<AgentResult>((resolve, reject) => {
      this.#pending = { kind: 'invoke', id: message.id, onLog: message.onLog, resolve, reject };
    });
    const event = message.event;
    // `t` and `id` lead: the agent reads them from the head of the line (PROTOCOL.md).
    const trace = message.trace
      ? { traceId: message.trace.traceId, traceparent: message.trace.traceparent }
      : {};
    if (event instanceof Uint8Array) {
      this.#send({
        t: 'invoke',
        id: message.id,
        deadline: message.deadline,
        ...trace,
        event: Buffer.from(event.buffer, event.byteOffset, event.byteLength).toString('base64'),
        eventEncoding: 'base64',
      });
    } else {
      this.#send({ t: 'invoke', id: message.id, deadline: message.deadline, ...trace, event: event ?? null });
    }
    return done;
  }

  /** Closes the connection and the listener; the agent exits when it sees the close. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#socket?.destroy();
    this.#failPending(new AgentGoneError());
    if (this.#server.listening) await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await rm(this.#path, { force: true });
  }

  #send(message: object): void {
    if (!this.#socket || this.#closed) {
      queueMicrotask(() => this.#failPending(new AgentGoneError()));
      return;
    }
    this.#idleBytes = 0;
    this.#socket.write(`${JSON.stringify(message)}\n`);
  }

  #accept(socket: Socket): void {
    // One agent per container, and only the first connection is it.
    if (this.#socket || this.#closed) {
      socket.destroy();
      return;
    }
    this.#socket = socket;
    this.#server.close();
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => this.#end(new AgentGoneError()));
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    if (this.#pending === undefined) {
      this.#idleBytes += chunk.length;
      if (this.#idleBytes > this.#idleOutputBytes) {
        const err = new AgentProtocolError(
          `the agent sent over ${this.#idleOutputBytes} bytes while no call was pending (output of a timer or a child process between calls?)`,
        );
        this.#warn?.('cut off an idle agent, its container is removed', err);
        this.#end(err);
        return;
      }
    }
    try {
      for (const line of this.#splitter.push(chunk)) {
        if (line.length > 0) this.#onMessage(parseAgentMessage(line, this.#limits));
        if (this.#closed) return;
      }
    } catch (err) {
      this.#end(err instanceof AgentProtocolError ? err : new AgentProtocolError(String(err)));
    }
  }

  #onMessage(message: AgentMessage): void {
    const pending = this.#pending;
    switch (message.t) {
      case 'hello':
        if (this.#helloSeen) throw new AgentProtocolError('a second hello');
        this.#helloSeen = true;
        if (pending?.kind === 'hello') {
          this.#pending = undefined;
          pending.resolve();
        }
        return;
      case 'loaded':
      case 'load_failed':
        if (pending?.kind !== 'load') throw new AgentProtocolError(`"${message.t}" when no load was asked`);
        this.#pending = undefined;
        pending.resolve(message.t === 'load_failed' ? message.error : undefined);
        return;
      case 'log':
        // Output between invocations (a timer of an earlier one) belongs to no invocation.
        if (message.id === null) return;
        if (pending?.kind !== 'invoke' || pending.id !== message.id) {
          throw new AgentProtocolError('a log line of an invocation that is not running');
        }
        pending.onLog(message.level, message.message);
        return;
      case 'result':
        if (pending?.kind !== 'invoke' || pending.id !== message.id) {
          throw new AgentProtocolError('a result of an invocation that is not running');
        }
        this.#pending = undefined;
        pending.resolve(message);
        return;
      case 'fatal':
        this.#end(new AgentFatalError(message.error));
        return;
    }
  }

  /** The connection is over: fail what is pending with `reason` and tell the container. */
  #end(reason: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket?.destroy();
    this.#failPending(reason);
    this.#onGone?.();
  }

  #failPending(err: Error): void {
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(err);
  }

  #withTimeout<T>(promise: Promise<T>, timeoutMs: number, message: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#pending = undefined;
        reject(new Error(`${message} within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }
}
