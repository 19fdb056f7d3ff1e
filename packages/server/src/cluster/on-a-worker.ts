import type { FaasError } from '@faas/core';
import { NotStarted } from './worker-failure.ts';

/** How a gateway places one call on a worker, and what it says when there is none. */
export interface Placing<Node extends { id: string }> {
  /** Re-reads the registry: a worker that joined since the last refresh (the first one, say). */
  refresh: () => Promise<void>;
  /** The worker to try next, passing over those in `tried`; undefined when none is left. */
  place: (tried: ReadonlySet<string>) => Node | undefined;
  /** The error when no worker was known at all (none failed with a reason of its own). */
  none: () => FaasError;
}

/**
 * Runs `work` on the placed worker and, when it throws NotStarted (the worker never took the
 * request), once more on another: a second try is all one call gets, so a cluster of unreachable
 * workers costs one retry's latency, not one per worker. (A kept-alive connection the worker had
 * closed is sent again on a new one by the sender itself, to that worker only.) With no worker known on the first try, the registry is read once more before giving up. Throws the
 * last NotStarted's reason when every try failed so, `none()` when there was no worker to try,
 * and anything else `work` throws as it is (the request may have run: never retried).
 */
export async function onAWorker<Node extends { id: string }, T>(
  placing: Placing<Node>,
  work: (node: Node) => Promise<T>,
): Promise<T> {
  const tried = new Set<string>();
  let last: FaasError | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    let node = placing.place(tried);
    if (!node && attempt === 0) {
      await placing.refresh();
      node = placing.place(tried);
    }
    if (!node) break;
    tried.add(node.id);
    try {
      return await work(node);
    } catch (err) {
      if (!(err instanceof NotStarted)) throw err;
      last = err.reason;
    }
  }
  throw last ?? placing.none();
}
