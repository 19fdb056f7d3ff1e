import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import type {
  BackendHealth,
  FunctionRuntime,
  Invocation,
  MetadataStore,
  NewLogLine,
  Tracer,
} from '@faas/core';
import { RecordBacklog } from './record-backlog.ts';
import { type RecordBatch, RecordWriter } from './record-writer.ts';

/** What a gateway thread sends for each invocation it finished (in batches: RecordMessage[]). */
export interface RecordMessage {
  invocation: Invocation;
  logs: NewLogLine[];
  /** The function's runtime, for metrics' labels. */
  runtime?: FunctionRuntime;
  /** With tracing on, the request's `traceparent`: the record's write is a span under it. */
  traceparent?: string;
}

export interface RecorderOptions {
  /** Longest a record waits before it is written. @default 25 */
  flushIntervalMs?: number;
  /** Write at once when this many records wait. @default 512 */
  maxBatch?: number;
  /** Records waiting (written or not yet) past which sync calls are refused. @default 10000 */
  maxPending?: number;
  /** Bytes of log lines waiting past which sync calls are refused. @default 67108864 */
  maxPendingLogBytes?: number;
  /** First wait before a failed write is tried again; doubles up to `maxRetryDelayMs`. @default 100 */
  retryBaseDelayMs?: number;
  /** @default 5000 */
  maxRetryDelayMs?: number;
  /** How long `close` keeps trying to write what is left. @default 10000 */
  closeTimeoutMs?: number;
  /** The shared backlog flag (gateway threads read it). @default a new one */
  backlog?: RecordBacklog;
  onError?: (err: unknown) => void;
  /** Told of every record as it comes in, from any thread (metrics, the live tail). */
  onRecord?: (invocation: Invocation, logs: NewLogLine[], runtime: FunctionRuntime | undefined) => void;
  /** Spans of the writes of traced records; absent when tracing is off. */
  tracing?: Tracer;
}

/** Counters for metrics and `/ready`. */
export interface RecorderStats {
  /** Records not yet written. */
  pending: number;
  pendingLogBytes: number;
  /** Write attempts that failed (each is tried again). */
  failedWrites: number;
  /** Failed attempts since the last write that succeeded. */
  consecutiveFailures: number;
  /** Records the store refused as invalid (dropped, each logged). */
  rejectedRecords: number;
}

const DEFAULT_MAX_PENDING = 10_000;
const DEFAULT_MAX_PENDING_LOG_BYTES = 64 * 1024 * 1024;

/**
 * Writes finished sync invocations and their logs in batches, off the request's critical path: a
 * sync invoke answers as soon as the function returns, and its record lands within a flush
 * interval. Until it is written, `pending` finds it, so a read right after an invoke sees it.
 *
 * A record is never dropped for a store that fails: its batch stays pending (readable) and is
 * written again with backoff, in order, until the store takes it. The pending set is bounded:
 * past `maxPending` records (or `maxPendingLogBytes` of logs) `admit` refuses new sync calls with
 * RECORDS_BACKLOG, so no call is answered with an id whose record might never exist. Only a record
 * the store refuses as invalid (a 4xx FaasError) is dropped, loudly and counted.
 */
export class InvocationRecorder {
  // Arrays, not Maps keyed by id: a long-lived Map holding the young records made every
  // scavenge of the main thread ~4 ms instead of ~0.5 (c=32 throughput −5 %), and the lookups
  // it served (`pending`: a read of a sync invocation within moments of its answer) can scan.
  /** Recorded, not yet handed to a write. */
  #invocations: Invocation[] = [];
  #logs: NewLogLine[] = [];
  #logBytes = 0;
  /** Of the records not yet handed to a write, the traced ones' request `traceparent`. */
  #traceparents: string[] = [];
  /** Handed to the writer, not yet written: they still answer `pending`. */
  #writer: RecordWriter;
  #pendingCount = 0;
  /** Log bytes handed to the writer, not yet written. */
  #pendingLogBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  #o: Required<
    Pick<
      RecorderOptions,
      'flushIntervalMs' | 'maxBatch' | 'maxPending' | 'maxPendingLogBytes' | 'closeTimeoutMs'
    >
  >;
  #onError: (err: unknown) => void;
  #onRecord: RecorderOptions['onRecord'];
  readonly backlog: RecordBacklog;
  /** Other gateway threads' invocations come in on these. */
  #sources = new Set<MessagePort>();

  constructor(store: MetadataStore, options: RecorderOptions = {}) {
    this.#o = {
      flushIntervalMs: options.flushIntervalMs ?? 25,
      maxBatch: options.maxBatch ?? 512,
      maxPending: options.maxPending ?? DEFAULT_MAX_PENDING,
      maxPendingLogBytes: options.maxPendingLogBytes ?? DEFAULT_MAX_PENDING_LOG_BYTES,
      closeTimeoutMs: options.closeTimeoutMs ?? 10_000,
    };
    this.backlog = options.backlog ?? new RecordBacklog();
    this.#onError = options.onError ?? ((err) => console.error('invocation recorder:', err));
    this.#onRecord = options.onRecord;
    this.#writer = new RecordWriter(store, {
      retryBaseDelayMs: options.retryBaseDelayMs ?? 100,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 5_000,
      onError: this.#onError,
      onWritten: (batch) => {
        this.#pendingCount -= batch.invocations.length;
        this.#pendingLogBytes -= batch.logBytes;
        this.#updateBacklog();
      },
      onDropped: () => {
        this.#pendingCount--;
        this.#updateBacklog();
      },
      ...(options.tracing ? { tracing: options.tracing } : {}),
    });
  }

  /** @throws FaasError RECORDS_BACKLOG while too many records wait: the caller must not run the call. */
  admit(): void {
    this.backlog.admit();
  }

  /** @param traceparent with tracing on, the request's: the record's write is a span under it. */
  record(invocation: Invocation, logs: NewLogLine[], runtime?: FunctionRuntime, traceparent?: string): void {
    this.#onRecord?.(invocation, logs, runtime);
    this.#invocations.push(invocation);
    if (traceparent !== undefined) this.#traceparents.push(traceparent);
    for (const line of logs) {
      this.#logs.push(line);
      this.#logBytes += line.message.length;
    }
    this.#pendingCount++;
    this.#updateBacklog();
    if (this.#invocations.length >= this.#o.maxBatch) {
      void this.flush();
    } else if (!this.#timer) {
      this.#timer = setTimeout(() => void this.flush(), this.#o.flushIntervalMs);
      this.#timer.unref();
    }
  }

  /**
   * Records what another thread posts on `port`. A thread posts an invocation before it answers
   * the request, so taking in what is queued on the ports (`pending`) finds any invocation a
   * client was told about.
   */
  addSource(port: MessagePort): () => void {
    const take = (batch: RecordMessage[]) => this.#take(batch);
    port.on('message', take);
    this.#sources.add(port);
    return () => {
      port.off('message', take);
      this.#sources.delete(port);
      this.#drain(port);
    };
  }

  pending(id: string): Invocation | undefined {
    this.#drainSources();
    // Oldest first: of two records with one id, the store keeps the first written.
    for (const batch of this.#writer.batches) {
      const found = batch.invocations.find((inv) => inv.id === id);
      if (found) return found;
    }
    return this.#invocations.find((inv) => inv.id === id);
  }

  pendingLogs(id: string): NewLogLine[] {
    this.#drainSources();
    const out: NewLogLine[] = [];
    for (const batch of this.#writer.batches)
      for (const l of batch.logs) if (l.invocationId === id) out.push(l);
    for (const l of this.#logs) if (l.invocationId === id) out.push(l);
    return out;
  }

  stats(): RecorderStats {
    const { failedWrites, consecutiveFailures, rejectedRecords } = this.#writer;
    return {
      pending: this.#pendingCount,
      pendingLogBytes: this.#pendingLogBytes + this.#logBytes,
      failedWrites,
      consecutiveFailures,
      rejectedRecords,
    };
  }

  /** Failing while the last write failed: records wait in memory. */
  health(): BackendHealth {
    return this.#writer.health(this.#pendingCount);
  }

  /**
   * Hands everything recorded so far to the writer. Resolves once it is all written, or as soon
   * as a write fails (the records stay pending and are tried again): a caller that reads the
   * store next sees everything the store could take.
   */
  flush(): Promise<void> {
    this.#drainSources();
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#invocations.length > 0 || this.#logs.length > 0) {
      // Each record is handed to exactly one batch, so a backlog costs one write per record.
      const batch: RecordBatch = {
        invocations: this.#invocations,
        logs: this.#logs,
        logBytes: this.#logBytes,
        ...(this.#traceparents.length > 0 ? { traceparents: this.#traceparents } : {}),
      };
      this.#writer.push(batch);
      this.#pendingLogBytes += this.#logBytes;
      this.#invocations = [];
      if (this.#traceparents.length > 0) this.#traceparents = [];
      this.#logs = [];
      this.#logBytes = 0;
    }
    return this.#writer.flush();
  }

  /** Writes what is left, trying for up to `closeTimeoutMs`; what still fails then is lost, loudly. */
  async close(): Promise<void> {
    await this.flush();
    await this.#writer.close(this.#o.closeTimeoutMs);
    if (this.#pendingCount > 0) {
      this.#onError(
        new Error(
          `${this.#pendingCount} invocation record(s) could not be written before shutdown and are lost: ${String(this.#writer.lastError)}`,
        ),
      );
    }
  }

  /**
   * Takes in at once what other threads posted: a reader that must see every invocation already
   * answered (a metrics scrape) calls it first.
   */
  takeInPosted(): void {
    this.#drainSources();
  }

  #drainSources(): void {
    for (const port of this.#sources) this.#drain(port);
  }

  #drain(port: MessagePort): void {
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
      this.#take(m.message as RecordMessage[]);
    }
  }

  #take(batch: RecordMessage[]): void {
    for (const { invocation, logs, runtime, traceparent } of batch)
      this.record(invocation, logs, runtime, traceparent);
  }

  #updateBacklog(): void {
    const full =
      this.#pendingCount >= this.#o.maxPending ||
      this.#pendingLogBytes + this.#logBytes >= this.#o.maxPendingLogBytes;
    if (full !== this.backlog.full) this.backlog.set(full);
  }
}
