import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import {
  type FunctionVersion,
  type InvokeRequest,
  isFaasError,
  type Runtime,
  type RuntimeStats,
} from '@faas/core';
import { JsonText } from '../isolate/event-encoding.ts';
import { FrameReader, ProtocolError } from './frames.ts';
import {
  decodeDefine,
  decodeInvokeBatch,
  decodePrepare,
  decodeRetire,
  decodeSeq,
  EventKind,
  encodeHello,
  encodeLogFrames,
  encodeOutcomeFrames,
  encodePrepared,
  encodeStatsReply,
  type HostStats,
  type InvokeItem,
  type LogEntry,
  MessageType,
  type OutcomeItem,
  type PrepareAnswer,
} from './host-protocol.ts';

export interface HostServerOptions {
  socketPath: string;
  /** The isolate runtime every connection shares. */
  runtime: Runtime;
  maxFrameBytes: number;
  logger?: Pick<Console, 'error'>;
}

/**
 * The isolate host's end: serves the connections of the server's threads (host-protocol.ts) on
 * a Unix socket only the server's user can open, all with one isolate runtime, so a function's
 * warm isolates serve every thread.
 */
export class HostServer {
  #server: Server;
  #options: HostServerOptions;
  #connections = new Set<HostConnection>();

  private constructor(server: Server, options: HostServerOptions) {
    this.#server = server;
    this.#options = options;
    server.on('connection', (socket) => {
      const connection = new HostConnection(socket, options);
      this.#connections.add(connection);
      socket.once('close', () => this.#connections.delete(connection));
    });
  }

  static async listen(options: HostServerOptions): Promise<HostServer> {
    await rm(options.socketPath, { force: true });
    // Serving connections from before listen: threads reconnect every few ms, and one accepted
    // while nothing listened for 'connection' (during the chmod) waited for a hello for good.
    const host = new HostServer(createServer(), options);
    await new Promise<void>((resolve, reject) => {
      host.#server.once('error', reject);
      host.#server.listen(options.socketPath, () => {
        host.#server.off('error', reject);
        resolve();
      });
    });
    // The folder is private already (0700); this is a second wall.
    await chmod(options.socketPath, 0o600);
    return host;
  }

  async close(): Promise<void> {
    for (const connection of this.#connections) connection.close();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await rm(this.#options.socketPath, { force: true });
  }
}

/** One thread's connection: its version table, its running invocations, its outboxes. */
class HostConnection {
  #socket: Socket;
  #options: HostServerOptions;
  #reader: FrameReader;
  #versions = new Map<number, FunctionVersion>();
  #running = new Map<number, AbortController>();
  #outbox: OutcomeItem[] = [];
  /** Lines running invocations wrote this turn, by seq. */
  #unsentLogs = new Map<number, LogEntry[]>();
  #flushing = false;

  constructor(socket: Socket, options: HostServerOptions) {
    this.#socket = socket;
    this.#options = options;
    this.#reader = new FrameReader(options.maxFrameBytes);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => {});
    socket.once('close', () => {
      // The thread is gone: nobody waits for these any more.
      for (const controller of this.#running.values()) controller.abort();
      this.#running.clear();
    });
    socket.write(encodeHello(process.pid));
  }

  close(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    try {
      for (const frame of this.#reader.push(chunk)) this.#onFrame(frame.type, frame.body);
    } catch (err) {
      // Our own server sent it: a bug or corruption, not something to guess around.
      this.#options.logger?.error('isolate host: dropping a connection that broke the protocol', err);
      this.#socket.destroy();
    }
  }

  #onFrame(type: number, body: Buffer): void {
    switch (type) {
      case MessageType.define: {
        const { versionId, fn } = decodeDefine(body);
        this.#versions.set(versionId, fn);
        return;
      }
      case MessageType.invoke:
        for (const item of decodeInvokeBatch(body)) this.#invoke(item);
        return;
      case MessageType.abort:
        this.#running.get(decodeSeq(body))?.abort();
        return;
      case MessageType.prepare: {
        const { seq, versionId, artifact } = decodePrepare(body);
        void this.#prepare(seq, this.#version(versionId), artifact);
        return;
      }
      case MessageType.retire: {
        const { name, version } = decodeRetire(body);
        void this.#options.runtime.retire(name, version);
        return;
      }
      case MessageType.stats:
        this.#socket.write(encodeStatsReply(decodeSeq(body), hostStats(this.#options.runtime.stats())));
        return;
      default:
        throw new ProtocolError(`Unknown message type ${type}`);
    }
  }

  #version(versionId: number): FunctionVersion {
    const fn = this.#versions.get(versionId);
    if (!fn) throw new ProtocolError(`Version ${versionId} was never defined`);
    return fn;
  }

  #invoke(item: InvokeItem): void {
    const fn = this.#version(item.versionId);
    const controller = new AbortController();
    this.#running.set(item.seq, controller);
    const request: InvokeRequest = {
      invocationId: item.invocationId,
      fn,
      event: eventOf(item),
      deadline: item.deadline,
      log: (level, message) => this.#log(item.seq, { level, ts: Date.now(), message }),
      signal: controller.signal,
      // Version 00 (checked as it was decoded): the trace id is its second field.
      ...(item.traceparent
        ? { trace: { traceId: item.traceparent.slice(3, 35), traceparent: item.traceparent } }
        : {}),
    };
    this.#options.runtime.invoke(request).then(
      (outcome) => this.#send({ seq: item.seq, outcome, logs: this.#takeLogs(item.seq) }),
      (err: unknown) =>
        this.#send({ seq: item.seq, platformError: platformError(err), logs: this.#takeLogs(item.seq) }),
    );
  }

  async #prepare(seq: number, fn: FunctionVersion, artifact: Uint8Array | undefined): Promise<void> {
    let answer: PrepareAnswer;
    try {
      await this.#options.runtime.prepare(fn, artifact ? { artifact: { bytes: artifact } } : {});
      answer = { ok: true };
    } catch (err) {
      answer =
        isFaasError(err) && err.code === 'FAAS_ERR_COMPILE_ERROR'
          ? { ok: false, loadError: { message: err.message, details: err.details } }
          : { ok: false, platformError: platformError(err) };
    }
    if (!this.#socket.destroyed) this.#socket.write(encodePrepared(seq, answer));
  }

  #log(seq: number, entry: LogEntry): void {
    if (!this.#running.has(seq)) return;
    const lines = this.#unsentLogs.get(seq);
    if (lines) lines.push(entry);
    else this.#unsentLogs.set(seq, [entry]);
    this.#scheduleFlush();
  }

  #takeLogs(seq: number): LogEntry[] {
    const lines = this.#unsentLogs.get(seq) ?? [];
    this.#unsentLogs.delete(seq);
    return lines;
  }

  #send(item: OutcomeItem): void {
    if (!this.#running.delete(item.seq)) return;
    this.#outbox.push(item);
    this.#scheduleFlush();
  }

  /** What one turn produced leaves at its end: the lines, then the outcomes, each in as few frames as fit. */
  #scheduleFlush(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    setImmediate(() => {
      this.#flushing = false;
      const logs = [...this.#unsentLogs].map(([seq, lines]) => ({ seq, logs: lines }));
      this.#unsentLogs.clear();
      const outcomes = this.#outbox;
      this.#outbox = [];
      if (this.#socket.destroyed) return;
      // In frames the thread's reader takes: one it refused would drop the connection.
      const max = this.#options.maxFrameBytes;
      for (const frame of encodeLogFrames(logs, max)) this.#socket.write(frame);
      for (const frame of encodeOutcomeFrames(outcomes, max)) this.#socket.write(frame);
    });
  }
}

function eventOf(item: InvokeItem): unknown {
  switch (item.eventKind) {
    case EventKind.undefined:
      return undefined;
    case EventKind.json:
      return new JsonText(utf8(item.payload));
    case EventKind.text:
      return utf8(item.payload);
    case EventKind.bytes:
      return new Uint8Array(item.payload);
  }
}

function utf8(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
}

function platformError(err: unknown): { code: string; message: string } {
  if (isFaasError(err)) return { code: err.code, message: err.message };
  return { code: 'FAAS_ERR_INTERNAL', message: `The isolate host failed: ${String(err)}` };
}

/** The runtime's stats and this host process's memory (the server's /metrics shows both). */
function hostStats(runtime: RuntimeStats): HostStats {
  const memory = process.memoryUsage();
  return { ...runtime, process: { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed } };
}
