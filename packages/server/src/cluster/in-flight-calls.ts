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

/** A worker's calls from this gateway, and their sum against one heartbeat of it. */
interface NodeCalls {
  running: Set<Call>;
  /** Ended calls not yet known to be in a heartbeat, about in the order they ended. */
  ended: Call[];
  tally: Tally | undefined;
}

interface Tally {
  heartbeat: number;
  calls: number;
  byVersion: Map<string, number>;
}

/**
 * What a call changes in a worker's counts as of its heartbeat at `heartbeat`: +1 running but not
 * shown (started since), -1 shown running but ended since, else 0. NaN (an unreadable time)
 * compares false both ways: every running call counts as unseen.
 */
function change(call: Call, heartbeat: number): number {
  if (call.endedAt !== undefined && call.endedAt < heartbeat) return 0;
  const startedSince = !(call.startedAt < heartbeat);
  if (call.endedAt === undefined) return startedSince ? 1 : 0;
  return startedSince ? 0 : -1;
}

/**
 * A gateway's calls to each worker. A worker's heartbeat (once a second) tells its running calls
 * and idle containers then; between two heartbeats a burst would all go to the worker that looked
 * best in the last one, and a container freed since would look busy (sending the next call to a
 * cold worker). So placement corrects each heartbeat by this gateway's own calls since: started
 * after it (not in its counts yet), or started before and ended after (counted busy, idle now).
 * Comparing the worker's heartbeat time with this node's clock assumes the clocks in step (NTP),
 * as call deadlines do.
 *
 * The correction is a tally kept per worker, summed once when its heartbeat moves and changed
 * by each call's start and end: placing a call costs the same at 10 or 10,000 calls a second,
 * where walking a second's calls for every worker at every placement did not.
 */
export class InFlightCalls {
  #byNode = new Map<string, NodeCalls>();

  /**
   * Counts a call to `nodeId` from `now`. The returned function marks it ended; `reached` false
   * (the worker never saw it) drops it, as it held nothing there.
   */
  start(nodeId: string, versionKey: string, now = Date.now()): (reached?: boolean, endedAt?: number) => void {
    let calls = this.#byNode.get(nodeId);
    if (!calls) {
      calls = { running: new Set(), ended: [], tally: undefined };
      this.#byNode.set(nodeId, calls);
    }
    const node = calls;
    this.#forgetEnded(node, now);
    const call: Call = { versionKey, startedAt: now };
    node.running.add(call);
    this.#changed(node, call, 0);
    let ended = false;
    return (reached = true, endedAt = Date.now()) => {
      if (ended) return;
      ended = true;
      const before = node.tally ? change(call, node.tally.heartbeat) : 0;
      node.running.delete(call);
      if (reached) {
        call.endedAt = endedAt;
        node.ended.push(call);
        this.#changed(node, call, before);
      } else if (node.tally) {
        this.#add(node.tally, call, -before);
      }
    };
  }

  /** How this gateway's calls changed `node` since its heartbeat. */
  readonly unseen: UnseenCalls = (node, versionKey) => {
    const calls = this.#byNode.get(node.id);
    if (!calls) return { calls: 0, sameVersion: 0 };
    const tally = this.#tallyAt(calls, node.heartbeatMs);
    if (calls.running.size === 0 && calls.ended.length === 0) this.#byNode.delete(node.id);
    return {
      calls: tally.calls,
      sameVersion: versionKey === undefined ? 0 : (tally.byVersion.get(versionKey) ?? 0),
    };
  };

  /** The tally against `heartbeat`, summed again when it moved (dropping calls it shows ended). */
  #tallyAt(calls: NodeCalls, heartbeat: number): Tally {
    if (calls.tally && Object.is(calls.tally.heartbeat, heartbeat)) return calls.tally;
    // A call the last heartbeat showed ended is gone for good, even if this one is older.
    const shown = calls.tally?.heartbeat;
    const tally: Tally = { heartbeat, calls: 0, byVersion: new Map() };
    calls.ended = calls.ended.filter((call) => {
      const endedAt = call.endedAt as number;
      return !(endedAt < heartbeat) && !(shown !== undefined && endedAt < shown);
    });
    for (const call of calls.running) this.#add(tally, call, change(call, heartbeat));
    for (const call of calls.ended) this.#add(tally, call, change(call, heartbeat));
    calls.tally = tally;
    return tally;
  }

  /** An ended call is dropped after FORGET_ENDED_MS even if no heartbeat showed it (its worker left). */
  #forgetEnded(calls: NodeCalls, now: number): void {
    let forgotten = 0;
    while (forgotten < calls.ended.length) {
      const call = calls.ended[forgotten] as Call;
      if (!(now - (call.endedAt as number) > FORGET_ENDED_MS)) break;
      if (calls.tally) this.#add(calls.tally, call, -change(call, calls.tally.heartbeat));
      forgotten++;
    }
    if (forgotten > 0) calls.ended.splice(0, forgotten);
  }

  /** A call's change went from `before`: the tally follows. */
  #changed(calls: NodeCalls, call: Call, before: number): void {
    if (calls.tally) this.#add(calls.tally, call, change(call, calls.tally.heartbeat) - before);
  }

  #add(tally: Tally, call: Call, by: number): void {
    if (by === 0) return;
    tally.calls += by;
    const sum = (tally.byVersion.get(call.versionKey) ?? 0) + by;
    if (sum === 0) tally.byVersion.delete(call.versionKey);
    else tally.byVersion.set(call.versionKey, sum);
  }
}
