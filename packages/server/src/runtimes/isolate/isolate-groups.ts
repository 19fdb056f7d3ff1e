import { DEFAULT_PROJECT, type FunctionVersion } from '@faas/core';
import type { IsolateBudget } from './isolate-budget.ts';
import { SharedIsolate } from './shared-isolate.ts';
import type { SpareIsolate } from './spare-isolate.ts';

/**
 * The runtime's isolates, grouped by what may share one: the project (one tenant's code never
 * shares a heap with another's) and the memory limit (the isolate's). A version loads into the
 * first isolate of its group that is free and has room (see SharedIsolate.hasRoomFor), else into
 * a new one, so idle functions pack together and a busy one spreads over isolates of its own.
 */
export class IsolateGroups {
  #budget: IsolateBudget;
  #spare: SpareIsolate | undefined;
  #onCatastrophicError: (message: string) => void;
  #groups = new Map<string, Set<SharedIsolate>>();

  constructor(
    budget: IsolateBudget,
    onCatastrophicError: (message: string) => void,
    spare: SpareIsolate | undefined,
  ) {
    this.#budget = budget;
    this.#onCatastrophicError = onCatastrophicError;
    this.#spare = spare;
  }

  /** Isolates alive. */
  get count(): number {
    let count = 0;
    for (const group of this.#groups.values()) count += group.size;
    return count;
  }

  /** Isolates holding a context made ahead. */
  get contextsReady(): number {
    let count = 0;
    for (const group of this.#groups.values()) for (const shared of group) if (shared.contextReady) count++;
    return count;
  }

  /**
   * An isolate held by `holder` (see SharedIsolate.hold) to load a context of `owner`'s version
   * `fn` into.
   * @throws FaasError RUNTIME_UNAVAILABLE when the budget has no room for a new one by `deadline`.
   */
  async hostFor(
    fn: FunctionVersion,
    owner: object,
    deadline: number,
    signal?: AbortSignal,
  ): Promise<SharedIsolate> {
    const project = fn.project ?? DEFAULT_PROJECT;
    const key = `${project}\n${fn.memoryMb}`;
    let group = this.#groups.get(key);
    for (const shared of group ?? []) {
      if (shared.hasRoomFor(owner) && shared.hold(owner)) return shared;
    }
    // One held only to make its next context has that context ready in a moment.
    for (const shared of group ?? []) {
      const making = shared.makingContext;
      if (!making) continue;
      await making;
      if (shared.hasRoomFor(owner) && shared.hold(owner)) return shared;
    }
    const shared: SharedIsolate = await SharedIsolate.make({
      project,
      memoryMb: fn.memoryMb,
      holder: owner,
      budget: this.#budget,
      deadline,
      signal,
      takeSpare: () => this.#spare?.take(fn.memoryMb),
      onCatastrophicError: this.#onCatastrophicError,
      onGone: () => {
        const set = this.#groups.get(key);
        set?.delete(shared);
        if (set?.size === 0) this.#groups.delete(key);
      },
    });
    group = this.#groups.get(key);
    if (!group) {
      group = new Set();
      this.#groups.set(key, group);
    }
    group.add(shared);
    return shared;
  }

  /** Disposes every isolate (the runtime closes). */
  close(): void {
    for (const group of [...this.#groups.values()]) for (const shared of [...group]) shared.dispose();
    this.#groups.clear();
  }
}
