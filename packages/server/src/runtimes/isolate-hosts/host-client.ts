import { connect, type Socket } from 'node:net';
import {
  ErrorCode,
  FaasError,
  type FunctionVersion,
  type InvokeOutcome,
  type InvokeRequest,
  type PrepareOptions,
} from '@faas/core';
import { envFingerprint } from '../env-fingerprint.ts';
import { FrameReader, FrameTooLarge } from './frames.ts';
import {
  decodeHello,
  decodeLogs,
  decodeOutcomes,
  decodePrepared,
  decodeStatsReply,
  EventKind,
  encodeDefine,
  encodeInvokeBatch,
  encodePrepare,
  encodeRetire,
  encodeSeq,
  type HostStats,
  hostStatsOf,
  INVOKE_FRAME_OVERHEAD,
  type InvokeItem,
  invokeItemBytes,
  type LogEntry,
  MessageType,
  type OutcomeItem,
  type PrepareAnswer,
} from './host-protocol.ts';

export interface HostClientOptions {
  socketPath: string;
  maxFrameBytes: number;
  /**
   * How long past its deadline an invocation may go unanswered before the host is taken for
   * stuck (a native operation V8 cannot interrupt) and killed.
   */
  stuckGraceMs: number;
  logger: Pick<Console, 'error' | 'warn'>;
}

interface Pending {
  seq: number;
  item: InvokeItem;
  fn: FunctionVersion;
  request: InvokeRequest;
  resolve: (outcome: InvokeOutcome) => void;
  reject: (err: unknown) => void;
  /** Sent again after its host died under it (once: a second loss fails it). */
  resent: boolean;
  onAbort: (() => void) | undefined;
}

type Connection =
  | { phase: 'connecting'; socket: Socket }
  | { phase: 'ready'; socket: Socket; pid: number }
  | { phase: 'waiting' }
  | { phase: 'closed' };

const RECONNECT_MS = 50;
const WATCHDOG_MS = 100;
const STATS_TIMEOUT_MS = 5_000;
/** The largest artifact a prepare request carries (far under any host's frame limit). */
const INLINE_ARTIFACT_MAX_BYTES = 256 * 1024;
const encoder = new TextEncoder();

/**
 * One thread's connection to one isolate host. Invocations made in one turn of the event loop
 * leave together (in as few frames as fit the limit); outcomes come back batched the same way.
 * The server's clock bounds every invocation: one that the host has not answered by its
 * deadline plus `stuckGraceMs` means the host is stuck in code V8 cannot interrupt, so the
 * client kills it; that invocation ends
 * `timed_out`, and the others it had are sent again to its replacement (isolates have no I/O,
 * so running a function again from the start is invisible but for the time).
 */
export class HostClient {
  #o: HostClientOptions;
  #connection: Connection = { phase: 'waiting' };
  #reader: FrameReader;
  #nextSeq = 1;
  #pending = new Map<number, Pending>();
  /** Versions defined on the connection in use, by versionKey; cleared when it is replaced. */
  #defined = new Map<string, number>();
  #nextVersionId = 1;
  #batch: Pending[] = [];
  #flushScheduled = false;
  #prepares = new Map<
    number,
    {
      fn: FunctionVersion;
      deadline: number;
      resolve: (a: PrepareAnswer) => void;
      reject: (err: unknown) => void;
    }
  >();
  #stats = new Map<number, (stats: HostStats | undefined) => void>();
  #watchdog: NodeJS.Timeout;
  #readyWaiters: Array<() => void> = [];

  constructor(options: HostClientOptions) {
    this.#o = options;
    this.#reader = new FrameReader(options.maxFrameBytes);
    this.#watchdog = setInterval(() => this.#checkDeadlines(), WATCHDOG_MS);
    this.#watchdog.unref();
    this.#connect();
  }

  get ready(): boolean {
    return this.#connection.phase === 'ready';
  }

  /** Runs one invocation on the host. Function faults are outcomes; platform faults throw. */
  invoke(fn: FunctionVersion, request: InvokeRequest): Promise<InvokeOutcome> {
    if (this.#connection.phase === 'closed') {
      return Promise.reject(new FaasError(ErrorCode.RUNTIME_UNAVAILABLE, 'The isolate runtime is closed'));
    }
    const [eventKind, payload] = encodeEvent(request.event);
    return new Promise((resolve, reject) => {
      const seq = this.#nextSeq++;
      const item: InvokeItem = {
        seq,
        versionId: 0,
        deadline: request.deadline,
        invocationId: request.invocationId,
        traceparent: request.trace?.traceparent ?? '',
        eventKind,
        payload,
      };
      // Refused here, alone: a frame over the limit would make the host drop the connection,
      // with every call this thread has there.
      const frameBytes = INVOKE_FRAME_OVERHEAD + invokeItemBytes(item);
      if (frameBytes > this.#o.maxFrameBytes) {
        reject(
          new FaasError(
            ErrorCode.BODY_TOO_LARGE,
            `The event is too large for the isolate runtime: ${frameBytes} bytes encoded, the limit is ${this.#o.maxFrameBytes}`,
          ),
        );
        return;
      }
      const pending: Pending = { seq, item, fn, request, resolve, reject, resent: false, onAbort: undefined };
      if (request.signal) {
        if (request.signal.aborted) {
          resolve(abortedOutcome());
          return;
        }
        pending.onAbort = () => this.#abort(pending);
        request.signal.addEventListener('abort', pending.onAbort, { once: true });
      }
      this.#pending.set(seq, pending);
      this.#enqueue(pending);
    });
  }

  /**
   * Loads a version on the host so its first invocation is warm.
   * @throws FaasError COMPILE_ERROR when the code does not load; RUNTIME_UNAVAILABLE.
   */
  async prepare(fn: FunctionVersion, artifact?: PrepareOptions['artifact']): Promise<void> {
    // A small artifact goes with the request, so the load need not wait for the blob writes; the
    // host reads a larger one from the blob store once it is there.
    const inline =
      artifact && artifact.bytes.byteLength <= INLINE_ARTIFACT_MAX_BYTES ? artifact.bytes : undefined;
    if (!inline) await artifact?.stored;
    const deadline = Date.now() + fn.timeoutMs;
    const socket = await this.#readySocket(deadline);
    const seq = this.#nextSeq++;
    const answer = await new Promise<PrepareAnswer>((resolve, reject) => {
      this.#prepares.set(seq, { fn, deadline, resolve, reject });
      // A new version's definition and the request leave in one write: each write wakes the host.
      socket.cork();
      try {
        socket.write(encodePrepare(seq, this.#versionId(socket, fn), inline));
      } finally {
        socket.uncork();
      }
    });
    if (answer.ok) return;
    if ('loadError' in answer) {
      throw new FaasError(ErrorCode.COMPILE_ERROR, answer.loadError.message, {
        details: answer.loadError.details,
      });
    }
    throw platformError(answer.platformError);
  }

  /** Drops the host's warm isolates of a function (all versions when `version` is undefined). */
  retire(name: string, version: number | undefined): void {
    if (this.#connection.phase === 'ready') this.#connection.socket.write(encodeRetire(name, version));
  }

  /** The host's runtime stats and process memory, or undefined while it is not connected. */
  async stats(): Promise<HostStats | undefined> {
    if (this.#connection.phase !== 'ready') return undefined;
    const socket = this.#connection.socket;
    const seq = this.#nextSeq++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#stats.delete(seq);
        resolve(undefined);
      }, STATS_TIMEOUT_MS);
      this.#stats.set(seq, (stats) => {
        clearTimeout(timer);
        resolve(stats);
      });
      socket.write(encodeSeq(MessageType.stats, seq));
    });
  }

  /** The pid of the host this client is connected to. */
  get hostPid(): number | undefined {
    return this.#connection.phase === 'ready' ? this.#connection.pid : undefined;
  }

  close(): void {
    const connection = this.#connection;
    this.#connection = { phase: 'closed' };
    clearInterval(this.#watchdog);
    if (connection.phase === 'connecting' || connection.phase === 'ready') connection.socket.destroy();
    const closed = new FaasError(
      ErrorCode.RUNTIME_UNAVAILABLE,
      'The isolate runtime closed during the invocation',
    );
    for (const pending of this.#pending.values()) this.#settle(pending, () => pending.reject(closed));
    for (const prepare of this.#prepares.values()) prepare.reject(closed);
    this.#prepares.clear();
    for (const wake of this.#readyWaiters.splice(0)) wake();
  }

  #connect(): void {
    if (this.#connection.phase === 'closed') return;
    const socket = connect(this.#o.socketPath);
    this.#connection = { phase: 'connecting', socket };
    this.#reader = new FrameReader(this.#o.maxFrameBytes);
    this.#defined.clear();
    socket.on('data', (chunk: Buffer) => this.#onData(socket, chunk));
    socket.on('error', () => {});
    socket.once('close', () => this.#onClose(socket));
  }

  #onClose(socket: Socket): void {
    const connection = this.#connection;
    if (connection.phase === 'closed') return;
    if ((connection.phase === 'connecting' || connection.phase === 'ready') && connection.socket !== socket)
      return;
    this.#connection = { phase: 'waiting' };
    const lost = new FaasError(
      ErrorCode.RUNTIME_UNAVAILABLE,
      'The isolate host stopped while loading the function',
    );
    const stoppedAt = Date.now();
    for (const prepare of this.#prepares.values()) {
      // Past its deadline, the load itself is why the host ended (isolated-vm gives up on a
      // native operation that does not stop): the code's fault, as the same call's 504 is.
      prepare.reject(
        stoppedAt > prepare.deadline
          ? new FaasError(
              ErrorCode.COMPILE_ERROR,
              `The function's top-level code did not stop at its timeout of ${prepare.fn.timeoutMs} ms (it ran a long operation that cannot be interrupted); its isolate host was restarted`,
              { details: { type: 'Timeout' } },
            )
          : lost,
      );
    }
    this.#prepares.clear();
    for (const answer of this.#stats.values()) answer(undefined);
    this.#stats.clear();
    // The host died (or was killed) with these sent: once more each, on its replacement; but
    // one past its deadline ran that long on the host, which may have ended for it.
    const now = Date.now();
    for (const pending of this.#pending.values()) {
      if (pending.item.versionId === 0) continue;
      if (now >= pending.request.deadline) {
        this.#settle(pending, () => pending.resolve(stoppedOutcome(pending, now, 'stuck')));
        continue;
      }
      if (pending.resent) {
        this.#settle(pending, () =>
          pending.reject(
            new FaasError(
              ErrorCode.RUNTIME_UNAVAILABLE,
              'The isolate host stopped twice during this invocation',
            ),
          ),
        );
        continue;
      }
      pending.resent = true;
      pending.item.versionId = 0;
      this.#batch.push(pending);
    }
    setTimeout(() => this.#connect(), RECONNECT_MS).unref();
  }

  #onData(socket: Socket, chunk: Buffer): void {
    try {
      for (const frame of this.#reader.push(chunk)) this.#onFrame(socket, frame.type, frame.body);
    } catch (err) {
      // The host splits what it sends to fit: a frame merely too large costs this connection
      // (its calls are sent again), not the host with every thread's calls. A malformed one
      // means the host is not well: it is killed.
      if (err instanceof FrameTooLarge) {
        this.#o.logger.error('isolate host sent a frame over the limit; dropping the connection', err);
      } else {
        this.#o.logger.error('isolate host sent a bad frame; dropping the connection', err);
        this.#kill();
      }
      socket.destroy();
    }
  }

  #onFrame(socket: Socket, type: number, body: Buffer): void {
    switch (type) {
      case MessageType.hello: {
        const { pid } = decodeHello(body);
        this.#connection = { phase: 'ready', socket, pid };
        for (const wake of this.#readyWaiters.splice(0)) wake();
        this.#scheduleFlush();
        return;
      }
      case MessageType.logs:
        for (const batch of decodeLogs(body)) this.#onLogs(batch.seq, batch.logs);
        return;
      case MessageType.outcomes:
        for (const item of decodeOutcomes(body)) this.#onOutcome(item);
        return;
      case MessageType.prepared: {
        const { seq, answer } = decodePrepared(body);
        this.#prepares.get(seq)?.resolve(answer);
        this.#prepares.delete(seq);
        return;
      }
      case MessageType.statsReply: {
        const { seq, stats } = decodeStatsReply(body);
        this.#stats.get(seq)?.(hostStatsOf(stats));
        this.#stats.delete(seq);
        return;
      }
      default:
        throw new Error(`unknown message type ${type} from the isolate host`);
    }
  }

  #onLogs(seq: number, lines: readonly LogEntry[]): void {
    const log = this.#pending.get(seq)?.request.log;
    if (log) for (const line of lines) log(line.level, line.message, line.ts);
  }

  #onOutcome(item: OutcomeItem): void {
    const pending = this.#pending.get(item.seq);
    if (!pending) return;
    this.#onLogs(item.seq, item.logs);
    if ('platformError' in item) {
      const err = platformError(item.platformError);
      this.#settle(pending, () => pending.reject(err));
    } else {
      const { outcome } = item;
      this.#settle(pending, () => pending.resolve(outcome));
    }
  }

  #settle(pending: Pending, done: () => void): void {
    if (!this.#pending.delete(pending.seq)) return;
    if (pending.onAbort) pending.request.signal?.removeEventListener('abort', pending.onAbort);
    done();
  }

  #abort(pending: Pending): void {
    if (!this.#pending.has(pending.seq)) return;
    if (pending.item.versionId !== 0 && this.#connection.phase === 'ready') {
      // Sent: the host stops it and answers with the outcome.
      this.#connection.socket.write(encodeSeq(MessageType.abort, pending.seq));
      return;
    }
    const index = this.#batch.indexOf(pending);
    if (index !== -1) this.#batch.splice(index, 1);
    this.#settle(pending, () => pending.resolve(abortedOutcome()));
  }

  #enqueue(pending: Pending): void {
    this.#batch.push(pending);
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#batch.length === 0) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  /** Sends this turn's invocations in as few frames as fit (defining new versions first). */
  #flush(): void {
    const connection = this.#connection;
    if (connection.phase !== 'ready' || this.#batch.length === 0) return;
    const { socket } = connection;
    const batch = this.#batch;
    this.#batch = [];
    // In frames under the limit (each item fits alone: see invoke): the host drops a connection
    // that sends a larger one.
    let items: InvokeItem[] = [];
    let bytes = INVOKE_FRAME_OVERHEAD;
    for (const pending of batch) {
      if (!this.#pending.has(pending.seq)) continue;
      pending.item.versionId = this.#versionId(socket, pending.fn);
      const itemBytes = invokeItemBytes(pending.item);
      if (items.length > 0 && bytes + itemBytes > this.#o.maxFrameBytes) {
        socket.write(encodeInvokeBatch(items));
        items = [];
        bytes = INVOKE_FRAME_OVERHEAD;
      }
      items.push(pending.item);
      bytes += itemBytes;
    }
    if (items.length > 0) socket.write(encodeInvokeBatch(items));
  }

  /** The number the host knows `fn` by on this connection, defining it the first time. */
  #versionId(socket: Socket, fn: FunctionVersion): number {
    const key = versionKey(fn);
    let id = this.#defined.get(key);
    if (id === undefined) {
      id = this.#nextVersionId++;
      this.#defined.set(key, id);
      socket.write(encodeDefine(id, fn));
    }
    return id;
  }

  async #readySocket(until: number): Promise<Socket> {
    for (;;) {
      const connection = this.#connection;
      if (connection.phase === 'ready') return connection.socket;
      if (connection.phase === 'closed') {
        throw new FaasError(ErrorCode.RUNTIME_UNAVAILABLE, 'The isolate runtime is closed');
      }
      const left = until - Date.now();
      if (left <= 0)
        throw new FaasError(ErrorCode.RUNTIME_UNAVAILABLE, 'The isolate host did not come back in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#readyWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /**
   * The server's clock: an invocation past its deadline plus the grace has a stuck host (kill
   * it: it ends `timed_out`); one that never left (its host is away) fails at its deadline.
   */
  #checkDeadlines(): void {
    if (this.#pending.size === 0) return;
    const now = Date.now();
    let stuck = false;
    for (const pending of this.#pending.values()) {
      const { deadline } = pending.request;
      if (pending.item.versionId === 0) {
        if (now >= deadline)
          this.#settle(pending, () => pending.resolve(stoppedOutcome(pending, now, 'unsent')));
      } else if (now >= deadline + this.#o.stuckGraceMs) {
        stuck = true;
        this.#settle(pending, () => pending.resolve(stoppedOutcome(pending, now, 'stuck')));
      }
    }
    if (stuck) this.#kill();
  }

  #kill(): void {
    const connection = this.#connection;
    if (connection.phase !== 'ready') return;
    this.#o.logger.warn(
      `isolate host ${connection.pid} did not stop a function at its deadline; killing it (it is started again)`,
    );
    try {
      process.kill(connection.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/**
 * Two deploys can reuse a name and version number (delete, create): the code tells them apart.
 * The env too: a version whose secrets changed is defined again, with their new values.
 */
function versionKey(fn: FunctionVersion): string {
  return `${fn.name}\0${fn.version}\0${fn.artifactSha256}\0${fn.createdAt}\0${envFingerprint(fn.env)}`;
}

function encodeEvent(event: unknown): [EventKind, Uint8Array] {
  if (event === undefined) return [EventKind.undefined, new Uint8Array(0)];
  if (typeof event === 'string') return [EventKind.text, encoder.encode(event)];
  if (event instanceof Uint8Array) return [EventKind.bytes, event];
  let json: string | undefined;
  try {
    json = JSON.stringify(event);
  } catch (cause) {
    throw new FaasError(ErrorCode.BAD_REQUEST, 'The event is not a JSON value', { cause });
  }
  return json === undefined
    ? [EventKind.undefined, new Uint8Array(0)]
    : [EventKind.json, encoder.encode(json)];
}

function abortedOutcome(): InvokeOutcome {
  return {
    status: 'failed',
    error: { type: 'Aborted', message: 'The invocation was cancelled' },
    metrics: { durationMs: 0 },
  };
}

function stoppedOutcome(pending: Pending, now: number, why: 'stuck' | 'unsent'): InvokeOutcome {
  const limitMs = pending.fn.timeoutMs;
  const message =
    why === 'stuck'
      ? `The function did not stop at its timeout of ${limitMs} ms (it ran a long operation that cannot be interrupted); its isolate host was restarted`
      : `The function did not start before its timeout of ${limitMs} ms: its isolate host was restarting`;
  return {
    status: 'timed_out',
    error: { type: 'Timeout', message },
    metrics: { durationMs: Math.max(0, now - (pending.request.deadline - limitMs)) },
  };
}

function platformError(error: { code: string; message: string }): FaasError {
  const codes = Object.values(ErrorCode) as string[];
  const code = codes.includes(error.code) ? (error.code as ErrorCode) : ErrorCode.INTERNAL;
  return new FaasError(code, error.message);
}
