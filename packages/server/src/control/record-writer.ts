import {
  type BackendHealth,
  ErrorCode,
  type Invocation,
  isFaasError,
  type MetadataStore,
  type NewLogLine,
  TraceAttr,
  type Tracer,
  type TraceSpan,
} from '@faas/core';

/** Records handed to one write: its invocations, then its log lines. */
export interface RecordBatch {
  invocations: Invocation[];
  logs: NewLogLine[];
  logBytes: number;
  /**
   * With tracing on, the `traceparent` of each traced invocation's request: each write of the
   * batch is a span under each of them.
   */
  traceparents?: string[];
}

export interface RecordWriterOptions {
  /** First wait before a failed write is tried again; doubles up to `maxRetryDelayMs`. */
  retryBaseDelayMs: number;
  maxRetryDelayMs: number;
  onError: (err: unknown) => void;
  /** A batch is in the store (its records no longer pending). */
  onWritten: (batch: RecordBatch) => void;
  /** A record the store refused as invalid was dropped. */
  onDropped: (invocation: Invocation) => void;
  /** Spans of the writes of traced records; absent when tracing is off. */
  tracing?: Tracer;
}

/**
 * Writes batches of records in order, one at a time. A batch the store fails to take stays at the
 * head of the line and is written again after a backoff (doubling to `maxRetryDelayMs`) until the
 * store takes it: a store that fails for a while loses nothing. Only a record the store refuses as
 * invalid (a 4xx FaasError) is dropped, alone, loudly.
 */
export class RecordWriter {
  #store: MetadataStore;
  #o: RecordWriterOptions;
  /** Handed over, oldest first, not yet written. */
  readonly batches: RecordBatch[] = [];
  #loop: Promise<void> | undefined;
  /** `flush` callers: resolved when the line empties or a write fails. */
  #waiters: Array<() => void> = [];
  #retry: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  #stopped = false;
  #lastError: unknown;
  /** Write attempts that failed (each is tried again), for metrics. */
  failedWrites = 0;
  /** Failed attempts since the last write that succeeded. */
  consecutiveFailures = 0;
  /** Records the store refused as invalid, dropped. */
  rejectedRecords = 0;

  constructor(store: MetadataStore, options: RecordWriterOptions) {
    this.#store = store;
    this.#o = options;
  }

  push(batch: RecordBatch): void {
    this.batches.push(batch);
  }

  /**
   * Writes what was pushed. Resolves once it is all written, or as soon as a write fails, or at
   * once while a failed write waits to be tried again: a caller never hangs on a failing store.
   */
  flush(): Promise<void> {
    if (this.batches.length === 0 || this.#retry) return Promise.resolve();
    const settled = new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#loop ??= this.#write().finally(() => {
      this.#loop = undefined;
    });
    return settled;
  }

  /** Tries what is left again every 100 ms for up to `timeoutMs`, then stops writing. */
  async close(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    await this.flush();
    while (this.batches.length > 0 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(100, Math.max(0, until - Date.now()))));
      this.#retry?.wake();
      await this.flush();
    }
    this.#stopped = true;
    this.#retry?.wake();
    await this.#loop;
  }

  get lastError(): unknown {
    return this.#lastError;
  }

  /** Failing while the last write failed: records wait in memory. */
  health(pending: number): BackendHealth {
    if (this.consecutiveFailures === 0) return { ok: true };
    const err = this.#lastError;
    return {
      ok: false,
      code: isFaasError(err) ? err.code : ErrorCode.STORAGE_UNAVAILABLE,
      reason:
        `${pending} invocation record(s) wait to be written; the last ${this.consecutiveFailures} ` +
        `write(s) failed (${this.failedWrites} in all): ${(err as Error | undefined)?.message ?? String(err)}`,
    };
  }

  async #write(): Promise<void> {
    while (this.batches.length > 0 && !this.#stopped) {
      const batch = this.batches[0] as RecordBatch;
      const spans = this.#spans(batch);
      try {
        await this.#writeBatch(batch);
        for (const span of spans) span.end();
      } catch (err) {
        for (const span of spans) span.end(err);
        this.failedWrites++;
        this.consecutiveFailures++;
        this.#lastError = err;
        // Every failure of a run of them would flood the log: the first, then every tenth.
        if (this.consecutiveFailures % 10 === 1) this.#o.onError(err);
        this.#settleWaiters();
        await this.#retryDelay();
        continue;
      }
      this.batches.shift();
      this.consecutiveFailures = 0;
      this.#o.onWritten(batch);
      if (this.batches.length === 0) this.#settleWaiters();
    }
  }

  /** One span per traced record for this write of its batch (each retry is a span of its own). */
  #spans(batch: RecordBatch): TraceSpan[] {
    const tracing = this.#o.tracing;
    if (!tracing || !batch.traceparents) return [];
    const attributes = {
      [TraceAttr.storeOperation]: 'createInvocations',
      'faas.batch_size': batch.invocations.length,
    };
    return batch.traceparents.map(
      (traceparent) =>
        tracing.continue(traceparent, undefined, 'faas.store.write', 'client', attributes).span as TraceSpan,
    );
  }

  /**
   * One call for the batch: its invocations and their lines land together (PostgreSQL: in one
   * round trip). Ids already present are skipped with their lines, so a batch tried again after
   * a failure whose outcome was unknown writes nothing twice.
   */
  async #writeBatch(batch: RecordBatch): Promise<void> {
    try {
      await this.#store.createInvocations(batch.invocations, batch.logs);
    } catch (err) {
      if (!isInvalidRecord(err)) throw err;
      // One bad record must not hold back the rest forever: write them one by one.
      await this.#writeEach(batch);
    }
  }

  async #writeEach(batch: RecordBatch): Promise<void> {
    const ids = new Set(batch.invocations.map((inv) => inv.id));
    for (const inv of [...batch.invocations]) {
      try {
        await this.#store.createInvocations(
          [inv],
          batch.logs.filter((l) => l.invocationId === inv.id),
        );
      } catch (err) {
        if (!isInvalidRecord(err)) throw err;
        batch.invocations.splice(batch.invocations.indexOf(inv), 1);
        this.rejectedRecords++;
        this.#o.onDropped(inv);
        this.#o.onError(
          new Error(`invocation ${inv.id} was refused by the store and dropped`, { cause: err }),
        );
      }
    }
    // Lines of no invocation in the batch (none are recorded so today) still go in.
    const orphans = batch.logs.filter((l) => !ids.has(l.invocationId));
    if (orphans.length > 0) await this.#store.appendLogs(orphans);
  }

  #retryDelay(): Promise<void> {
    const exponent = Math.min(this.consecutiveFailures - 1, 16);
    const ms = Math.min(this.#o.maxRetryDelayMs, this.#o.retryBaseDelayMs * 2 ** exponent);
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#retry = undefined;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      timer.unref();
      this.#retry = { timer, wake };
    });
  }

  #settleWaiters(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** A record the store can never take (a 4xx FaasError), as opposed to a store that fails. */
function isInvalidRecord(err: unknown): boolean {
  return isFaasError(err) && err.status >= 400 && err.status < 500;
}
