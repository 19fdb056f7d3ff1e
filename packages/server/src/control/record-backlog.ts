import { ErrorCode, FaasError } from '@faas/core';

/**
 * Whether the invocation records waiting to be written are past their cap, shared by every
 * gateway thread (a SharedArrayBuffer the main thread's recorder sets), so each thread refuses a
 * sync call before running it rather than answer with an id whose record may never exist.
 */
export class RecordBacklog {
  readonly buffer: SharedArrayBuffer;
  #full: Int32Array;

  /** A new flag, or a view of the one another thread made (its `buffer`). */
  constructor(buffer = new SharedArrayBuffer(4)) {
    this.buffer = buffer;
    this.#full = new Int32Array(buffer);
  }

  get full(): boolean {
    return Atomics.load(this.#full, 0) === 1;
  }

  set(full: boolean): void {
    Atomics.store(this.#full, 0, full ? 1 : 0);
  }

  /** @throws FaasError RECORDS_BACKLOG while the backlog is full. */
  admit(): void {
    if (Atomics.load(this.#full, 0) === 1) throw backlogFull();
  }
}

function backlogFull(): FaasError {
  return new FaasError(
    ErrorCode.RECORDS_BACKLOG,
    'Too many invocation records wait to be written (the store is failing or slow): the call was not run; retry shortly',
    { details: { retryAfterSeconds: 1 } },
  );
}
