/** Runs at most `max` pieces of work at once; the others wait their turn, first come first served. */
export class Turns {
  #max: number;
  #running = 0;
  /** Work waiting for a turn; one that ends hands its turn to the first. */
  #waiting: (() => void)[] = [];

  constructor(max: number) {
    this.#max = max;
  }

  /** Runs `work` in its turn; `onWait` hears when it has to wait for one. */
  async run<T>(work: () => Promise<T>, onWait?: () => void): Promise<T> {
    if (this.#running < this.#max) this.#running += 1;
    else {
      onWait?.();
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running -= 1;
    }
  }
}
