import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import type { Invocation, MetadataStore, StoredLogLine } from '@faas/core';

type NewLogLine = Omit<StoredLogLine, 'seq'>;

/** What a gateway thread sends for each invocation it finished (in batches: RecordMessage[]). */
export interface RecordMessage {
  invocation: Invocation;
  logs: NewLogLine[];
}

export interface RecorderOptions {
  /** Longest a record waits before it is written. @default 25 */
  flushIntervalMs?: number;
  /** Write at once when this many records wait. @default 512 */
  maxBatch?: number;
  onError?: (err: unknown) => void;
}

/**
 * Writes finished sync invocations and their logs in batches, off the request's critical path: a
 * sync invoke answers as soon as the function returns, and its record lands within a flush
 * interval. Until then `pending` still finds it, so a read right after an invoke sees it.
 */
export class InvocationRecorder {
  #store: MetadataStore;
  // Arrays, not Maps keyed by id: a long-lived Map holding the young records made every
  // scavenge of the main thread ~4 ms instead of ~0.5 (c=32 throughput −5 %), and the lookups
  // it served (`pending`: a read of a sync invocation within moments of its answer) can scan.
  /** Recorded, not yet handed to a flush. */
  #invocations: Invocation[] = [];
  #logs: NewLogLine[] = [];
  /** Batches handed to a flush, not yet written: they still answer `pending`. */
  #writing: Invocation[][] = [];
  #writingLogs: NewLogLine[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #intervalMs: number;
  #maxBatch: number;
  #onError: (err: unknown) => void;
  /** Other gateway threads' invocations come in on these. */
  #sources = new Set<MessagePort>();

  constructor(store: MetadataStore, options: RecorderOptions = {}) {
    this.#store = store;
    this.#intervalMs = options.flushIntervalMs ?? 25;
    this.#maxBatch = options.maxBatch ?? 512;
    this.#onError = options.onError ?? ((err) => console.error('invocation recorder:', err));
  }

  record(invocation: Invocation, logs: NewLogLine[]): void {
    this.#invocations.push(invocation);
    for (const line of logs) this.#logs.push(line);
    if (this.#invocations.length >= this.#maxBatch) {
      void this.flush();
    } else if (!this.#timer) {
      this.#timer = setTimeout(() => void this.flush(), this.#intervalMs);
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
    for (const batch of [...this.#writing, this.#invocations]) {
      const found = batch.find((inv) => inv.id === id);
      if (found) return found;
    }
    return undefined;
  }

  pendingLogs(id: string): NewLogLine[] {
    this.#drainSources();
    return [...this.#writingLogs, ...this.#logs].filter((l) => l.invocationId === id);
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
    for (const { invocation, logs } of batch) this.record(invocation, logs);
  }

  /** Writes everything recorded so far; resolves when it is in the store. */
  flush(): Promise<void> {
    this.#drainSources();
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#invocations.length === 0 && this.#logs.length === 0) return this.#flushing;
    // Each record is handed to exactly one flush, so a backlog costs one write per record.
    const batch = this.#invocations;
    const logs = this.#logs;
    this.#invocations = [];
    this.#logs = [];
    this.#writing.push(batch);
    for (const line of logs) this.#writingLogs.push(line);
    // Chained so batches land in order.
    this.#flushing = this.#flushing.then(async () => {
      try {
        if (batch.length > 0) await this.#store.createInvocations(batch);
        if (logs.length > 0) await this.#store.appendLogs(logs);
      } catch (err) {
        this.#onError(err);
      } finally {
        // Batches are written in order: this one is the oldest in flight.
        this.#writing.shift();
        this.#writingLogs.splice(0, logs.length);
      }
    });
    return this.#flushing;
  }

  async close(): Promise<void> {
    await this.flush();
  }
}
