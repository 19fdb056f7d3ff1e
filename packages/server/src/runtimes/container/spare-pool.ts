import type { AgentContainer } from './agent-container.ts';
import type { PendingWork } from './pending-work.ts';

/**
 * Started containers of one runtime image that wait for code. Taking one skips `docker create`
 * and start (~180 ms here), so a version's first invoke costs linking its code and loading it.
 * Refills in the background, one container at a time so refilling never hogs the CPUs.
 */
export class SparePool {
  #ready: AgentContainer[] = [];
  #target: number;
  #starting = 0;
  #start: () => Promise<AgentContainer>;
  #onError: (err: unknown) => void;
  #closed = false;

  #removals: PendingWork;

  constructor(
    target: number,
    start: () => Promise<AgentContainer>,
    removals: PendingWork,
    onError: (err: unknown) => void,
  ) {
    this.#target = target;
    this.#removals = removals;
    this.#start = start;
    this.#onError = onError;
  }

  get size(): number {
    return this.#ready.length;
  }

  /** A live spare, or undefined when none is ready; starts refilling either way. */
  take(): AgentContainer | undefined {
    let spare = this.#ready.shift();
    while (spare && !spare.alive) {
      this.#removals.add(spare.destroy());
      spare = this.#ready.shift();
    }
    this.refill();
    return spare;
  }

  refill(): void {
    if (this.#closed || this.#starting > 0 || this.#ready.length >= this.#target) return;
    this.#starting += 1;
    this.#start().then(
      (container) => {
        // Kept even when closed meanwhile: close() removes what is ready once starts settle.
        this.#ready.push(container);
        this.#starting -= 1;
        this.refill();
      },
      (err) => {
        // No retry loop (a start that fails at once would spin): the next take() tries again.
        this.#starting -= 1;
        this.#onError(err);
      },
    );
  }

  /** Resolves when no spare is being started (tests use it to count containers). */
  async settled(): Promise<void> {
    while (this.#starting > 0) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.settled();
    const spares = this.#ready.splice(0);
    await Promise.all(spares.map((c) => c.destroy()));
  }
}
