/**
 * Blob fetches one isolate host may have in flight. A host runs tenant code: if it were taken
 * over, its asks must not turn the server into an unbounded S3 client. Its own artifact cache
 * asks once per function it loads, far below this.
 */
export const MAX_FETCHES_PER_HOST = 8;

/** Runs at most `max` pieces of work at once; past that, refuses at once rather than queueing. */
export class FetchBound {
  #inFlight = 0;
  #max: number;

  constructor(max = MAX_FETCHES_PER_HOST) {
    this.#max = max;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#inFlight >= this.#max) {
      throw new Error(`more than ${this.#max} blob fetches in flight from one isolate host`);
    }
    this.#inFlight++;
    try {
      return await work();
    } finally {
      this.#inFlight--;
    }
  }
}
