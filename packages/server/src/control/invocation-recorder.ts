import type { Invocation, MetadataStore, StoredLogLine } from '@faas/core';

type NewLogLine = Omit<StoredLogLine, 'seq'>;

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
  #invocations = new Map<string, Invocation>();
  #logs: NewLogLine[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #intervalMs: number;
  #maxBatch: number;
  #onError: (err: unknown) => void;

  constructor(store: MetadataStore, options: RecorderOptions = {}) {
    this.#store = store;
    this.#intervalMs = options.flushIntervalMs ?? 25;
    this.#maxBatch = options.maxBatch ?? 512;
    this.#onError = options.onError ?? ((err) => console.error('invocation recorder:', err));
  }

  record(invocation: Invocation, logs: NewLogLine[]): void {
    this.#invocations.set(invocation.id, invocation);
    for (const line of logs) this.#logs.push(line);
    if (this.#invocations.size >= this.#maxBatch) {
      void this.flush();
    } else if (!this.#timer) {
      this.#timer = setTimeout(() => void this.flush(), this.#intervalMs);
      this.#timer.unref();
    }
  }

  pending(id: string): Invocation | undefined {
    return this.#invocations.get(id);
  }

  pendingLogs(id: string): NewLogLine[] {
    return this.#logs.filter((l) => l.invocationId === id);
  }

  /** Writes everything recorded so far; resolves when it is in the store. */
  flush(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const batch = [...this.#invocations.values()];
    const logs = this.#logs;
    if (batch.length === 0 && logs.length === 0) return this.#flushing;
    this.#logs = [];
    // Chained so batches land in order and `pending` keeps answering until each is written.
    this.#flushing = this.#flushing.then(async () => {
      try {
        if (batch.length > 0) await this.#store.createInvocations(batch);
        if (logs.length > 0) await this.#store.appendLogs(logs);
      } catch (err) {
        this.#onError(err);
      } finally {
        for (const inv of batch) if (this.#invocations.get(inv.id) === inv) this.#invocations.delete(inv.id);
      }
    });
    return this.#flushing;
  }

  async close(): Promise<void> {
    await this.flush();
  }
}
