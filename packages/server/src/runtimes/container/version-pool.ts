import type { AgentContainer } from './agent-container.ts';
import type { ContainerIsolation } from './container-roles.ts';
import type { PendingWork } from './pending-work.ts';

/**
 * The warm containers of one function version: idle ones are reused, at most `max` exist, and
 * those idle past the timeout are removed (scale to zero).
 */
export class VersionPool {
  readonly key: string;
  /** What its containers were loaded with (container-runtime.ts `loadedWith`). */
  readonly fingerprint: string;
  readonly isolation: ContainerIsolation;
  #idle: AgentContainer[] = [];
  #busy = new Set<AgentContainer>();
  #starting = 0;
  #waiters: Array<(container: AgentContainer | undefined) => void> = [];
  #retired = false;

  #removals: PendingWork;

  constructor(
    key: string,
    fingerprint: string,
    removals: PendingWork,
    isolation: ContainerIsolation = 'runc',
  ) {
    this.key = key;
    this.fingerprint = fingerprint;
    this.isolation = isolation;
    this.#removals = removals;
  }

  get warm(): number {
    return this.#idle.length + this.#busy.size;
  }

  get busy(): number {
    return this.#busy.size;
  }

  /** Nothing warm, starting or waiting: the pool can be dropped. */
  get empty(): boolean {
    return this.warm === 0 && this.#starting === 0 && this.#waiters.length === 0;
  }

  get retired(): boolean {
    return this.#retired;
  }

  /**
   * An idle container, or a new one from `create` when fewer than `max` exist, or the next one
   * released. `create` failing rejects this call (and frees its place).
   */
  async acquire(max: number, create: () => Promise<AgentContainer>): Promise<AgentContainer> {
    for (;;) {
      if (this.#retired) throw new Error(`The pool of ${this.key} is retired`);
      const idle = this.#takeIdle();
      if (idle) return idle;
      if (this.warm + this.#starting < max) break;
      const released = await new Promise<AgentContainer | undefined>((resolve) =>
        this.#waiters.push(resolve),
      );
      if (released) {
        this.#busy.add(released);
        return released;
      }
    }
    this.#starting += 1;
    try {
      const container = await create();
      this.#busy.add(container);
      return container;
    } finally {
      this.#starting -= 1;
    }
  }

  /** Hands a container back: reused when alive, removed when it died or the pool is retired. */
  release(container: AgentContainer, reusable: boolean): void {
    this.#busy.delete(container);
    container.lastUsedAt = Date.now();
    if (!reusable || !container.alive || this.#retired) {
      this.#removals.add(container.destroy());
      // A waiter can now start a container of its own in the freed place.
      this.#waiters.shift()?.(undefined);
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) waiter(container);
    else this.#idle.push(container);
  }

  /** Removes containers idle since before `cutoff`; returns how many. */
  sweepIdle(cutoff: number): number {
    const keep: AgentContainer[] = [];
    let removed = 0;
    for (const container of this.#idle) {
      if (container.lastUsedAt < cutoff || !container.alive) {
        this.#removals.add(container.destroy());
        removed += 1;
      } else {
        keep.push(container);
      }
    }
    this.#idle = keep;
    return removed;
  }

  /** Removes idle containers now and busy ones when they are released. */
  async retire(): Promise<void> {
    this.#retired = true;
    const idle = this.#idle.splice(0);
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
    await Promise.all(idle.map((c) => c.destroy()));
  }

  /** Removes every container, busy ones included (server shutdown). */
  async close(): Promise<void> {
    await this.retire();
    const busy = [...this.#busy];
    this.#busy.clear();
    await Promise.all(busy.map((c) => c.destroy()));
  }

  #takeIdle(): AgentContainer | undefined {
    // Most recently used first: it is the warmest, and the others can age out.
    let container = this.#idle.pop();
    while (container && !container.alive) {
      this.#removals.add(container.destroy());
      container = this.#idle.pop();
    }
    if (container) this.#busy.add(container);
    return container;
  }
}
