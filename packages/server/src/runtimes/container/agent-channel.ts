import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { InvocationError, LogLine } from '@faas/core';

/** Messages the agent sends (images/agent/PROTOCOL.md). */
export type AgentMessage =
  | { t: 'hello'; runtime: string; pid: number; version?: string }
  | { t: 'loaded' }
  | { t: 'load_failed'; error: InvocationError }
  | { t: 'log'; id: string | null; level: LogLine['level']; message: string }
  | { t: 'result'; id: string; ok: true; value: unknown; valueEncoding?: 'base64' }
  | { t: 'result'; id: string; ok: false; error: InvocationError };

export type AgentResult = Extract<AgentMessage, { t: 'result' }>;

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
}

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

type Pending =
  | { kind: 'hello'; resolve: () => void; reject: (err: Error) => void }
  | { kind: 'load'; resolve: (error: InvocationError | undefined) => void; reject: (err: Error) => void }
  | {
      kind: 'invoke';
      id: string;
      onLog: InvokeMessage['onLog'];
      resolve: (result: AgentResult) => void;
      reject: (err: Error) => void;
    };

/**
 * The host's end of one container's agent connection. The host listens on a Unix socket in the
 * container's folder (bind-mounted read-only at /faas) and the agent connects to it, so the
 * container needs no writable mount. One request at a time, newline-delimited JSON.
 */
export class AgentChannel {
  #server: Server;
  #path: string;
  #socket: Socket | undefined;
  #pending: Pending | undefined;
  #buffered = '';
  #closed = false;
  #helloSeen = false;
  #onGone: (() => void) | undefined;

  private constructor(server: Server, path: string) {
    this.#server = server;
    this.#path = path;
    server.on('connection', (socket) => this.#accept(socket));
  }

  /** Listens at `path` (removed first when left over), world-connectable for the non-root agent. */
  static async listen(path: string): Promise<AgentChannel> {
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
    await chmod(path, 0o666);
    return new AgentChannel(server, path);
  }

  get connected(): boolean {
    return this.#socket !== undefined && !this.#closed;
  }

  /** Called once when the agent's connection ends (not when the host closes it). */
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
  load(request: LoadRequest, timeoutMs: number): Promise<InvocationError | undefined> {
    const done = new Promise<InvocationError | undefined>((resolve, reject) => {
      this.#pending = { kind: 'load', resolve, reject };
    });
    this.#send({ t: 'load', ...request });
    return this.#withTimeout(done, timeoutMs, 'Loading the handler did not finish').catch((err: Error) => {
      throw err instanceof AgentGoneError ? err : new LoadTimeoutError(err.message);
    });
  }

  /** Runs one invocation; the caller enforces the deadline (by killing the container). */
  invoke(message: InvokeMessage): Promise<AgentResult> {
    const done = new Promise<AgentResult>((resolve, reject) => {
      this.#pending = { kind: 'invoke', id: message.id, onLog: message.onLog, resolve, reject };
    });
    const event = message.event;
    if (event instanceof Uint8Array) {
      this.#send({
        t: 'invoke',
        id: message.id,
        deadline: message.deadline,
        event: Buffer.from(event).toString('base64'),
        eventEncoding: 'base64',
      });
    } else {
      this.#send({ t: 'invoke', id: message.id, deadline: message.deadline, event: event ?? null });
    }
    return done;
  }

  /** Closes the connection and the listener; the agent exits when it sees the close. */
  async close(): Promise<void> {
    if (this.#closed && !this.#server.listening) return;
    this.#closed = true;
    this.#socket?.destroy();
    this.#failPending(new AgentGoneError());
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await rm(this.#path, { force: true });
  }

  #send(message: object): void {
    if (!this.#socket || this.#closed) {
      queueMicrotask(() => this.#failPending(new AgentGoneError()));
      return;
    }
    this.#socket.write(`${JSON.stringify(message)}\n`);
  }

  #accept(socket: Socket): void {
    // One agent per container: a second connection is not ours to serve.
    if (this.#socket) {
      socket.destroy();
      return;
    }
    this.#socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.#onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.#closed) return;
      this.#closed = true;
      this.#failPending(new AgentGoneError());
      this.#onGone?.();
    });
  }

  #onData(chunk: string): void {
    this.#buffered += chunk;
    let newline = this.#buffered.indexOf('\n');
    while (newline !== -1) {
      const line = this.#buffered.slice(0, newline);
      this.#buffered = this.#buffered.slice(newline + 1);
      if (line.length > 0) this.#onMessage(line);
      newline = this.#buffered.indexOf('\n');
    }
  }

  #onMessage(line: string): void {
    let message: AgentMessage;
    try {
      message = JSON.parse(line) as AgentMessage;
    } catch {
      return;
    }
    const pending = this.#pending;
    switch (message.t) {
      case 'hello':
        this.#helloSeen = true;
        if (pending?.kind === 'hello') {
          this.#pending = undefined;
          pending.resolve();
        }
        return;
      case 'loaded':
      case 'load_failed':
        if (pending?.kind === 'load') {
          this.#pending = undefined;
          pending.resolve(message.t === 'load_failed' ? message.error : undefined);
        }
        return;
      case 'log':
        if (pending?.kind === 'invoke') pending.onLog(message.level, message.message);
        return;
      case 'result':
        if (pending?.kind === 'invoke' && pending.id === message.id) {
          this.#pending = undefined;
          pending.resolve(message);
        }
        return;
    }
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
