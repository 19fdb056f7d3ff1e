import type { DirectoryNode } from './worker-directory.ts';

/** What one gateway's calls changed on a worker since its last heartbeat. */
export interface Unseen {
  /**
   * Calls running there that its heartbeat does not show: those started since, less those it
   * showed running that have ended since. Negative when more ended than started.
   */
  calls: number;
  /** The same, for the version being placed: each holds, or gave back, one idle container. */
  sameVersion: number;
}

export type UnseenCalls = (node: DirectoryNode, versionKey: string | undefined) => Unseen;

export const NONE_UNSEEN: UnseenCalls = () => ({ calls: 0, sameVersion: 0 });

/** An ended call is forgotten after this long even if no heartbeat of its worker came (it left). */
const FORGET_ENDED_MS = 10_000;

interface Call {
  versionKey: string;
  startedAt: number;
  endedAt?: number;
}

/**
 * A gateway's calls to each worker. A worker's heartbeat (once a second) tells its running calls
 * and idle containers then; between two heartbeats a burst would all go to the worker that looked
 * best in the last one, and a container freed since would look busy (sending the next call to a
 * cold worker). So placement corrects each heartbeat by this gateway's own calls since: started
 * after it (not in its counts yet), or started before and ended after (counted busy, idle now).
 * Comparing the worker's heartbeat time with this node's clock assumes the clocks in step (NTP),
 * as call deadlines do.
 */
export class InFlightCalls {
  #byNode = new Map<string, Set<Call>>();

  /**
   * Counts a call to `nodeId` from `now`. The returned function marks it ended; `reached` false
   * (the worker never saw it) drops it, as it held nothing there.
   */
  start(nodeId: string, versionKey: string, now = Date.now()): (reached?: boolean, endedAt?: number) => void {
    const call: Call = { versionKey, startedAt: now };
    let calls = this.#byNode.get(nodeId);
    if (!calls) {
      calls = new Set();
      this.#byNode.set(nodeId, calls);
    }
    for (const c of calls) if (c.endedAt !== undefined && now - c.endedAt > FORGET_ENDED_MS) calls.delete(c);
    calls.add(call);
    return (reached = true, endedAt = Date.now()) => {
      if (!reached) calls.delete(call);
      else call.endedAt ??= endedAt;
    };
  }

  /** How this gateway's calls changed `node` since its heartbeat. */
  readonly unseen: UnseenCalls = (node, versionKey) => {
    const calls = this.#byNode.get(node.id);
    if (!calls) return { calls: 0, sameVersion: 0 };
    // NaN (an unreadable time) compares false both ways: every running call counts as unseen.
    const heartbeat = node.heartbeatMs;
    let unseen = 0;
    let sameVersion = 0;
    for (const call of calls) {
      if (call.endedAt !== undefined && call.endedAt < heartbeat) {
        calls.delete(call); // the heartbeat shows it ended: nothing to correct any more
        continue;
      }
      const startedSince = !(call.startedAt < heartbeat);
      let change = 0;
      if (call.endedAt === undefined && startedSince) change = 1;
      else if (call.endedAt !== undefined && !startedSince) change = -1;
      unseen += change;
      if (call.versionKey === versionKey) sameVersion += change;
    }
    if (calls.size === 0) this.#byNode.delete(node.id);
    return { calls: unseen, sameVersion };
  };
}
