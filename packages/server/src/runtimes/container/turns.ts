/**
 * Runs at most `max` pieces of work at once. The others wait their turn: parties (projects) take
 * turns in rotation, each party's work in the order it came, so one project's fifty installs
 * hold another's one back for one turn, not fifty.
 */
export class Turns {
  #max: number;
  #running = 0;
  /** Work waiting for a turn, by party, in the rotation's order; one that ends hands its turn on. */
  #waiting = new Map<string, Array<() => void>>();

  constructor(max: number) {
    this.#max = max;
  }

  /** Runs `work` in `party`'s turn; `onWait` hears when it has to wait for one. */
  async run<T>(party: string, work: () => Promise<T>, onWait?: () => void): Promise<T> {
    if (this.#running < this.#max) this.#running += 1;
    else {
      onWait?.();
      await new Promise<void>((resolve) => {
        const queue = this.#waiting.get(party);
        if (queue) queue.push(resolve);
        else this.#waiting.set(party, [resolve]);
      });
    }
    try {
      return await work();
    } finally {
      this.#handOn();
    }
  }

  /** Gives the turn to the first party in the rotation, which goes to its end. */
  #handOn(): void {
    const first = this.#waiting.entries().next();
    if (first.done) {
      this.#running -= 1;
      return;
    }
    const [party, queue] = first.value;
    this.#waiting.delete(party);
    const next = queue.shift();
    if (queue.length > 0) this.#waiting.set(party, queue);
    next?.();
  }
}
