import { NONE_UNSEEN, type UnseenCalls } from './in-flight-calls.ts';
import { LOAD_WEIGHTS } from './load-score.ts';
import type { DirectoryNode } from './worker-directory.ts';

/**
 * Where a container call goes: a worker with an idle warm container of its version first (it
 * starts at once), else the lowest load score; ties go to the worker running fewer calls, then by
 * id so that the choice is stable. A version warm on a worker whose containers are all busy earns
 * that worker nothing: the call would wait there for one or start cold, so it goes by load and
 * the calls spread. `unseen` corrects each worker's heartbeat by this gateway's calls since: one
 * started takes one of its idle containers and is guessed to load one of its CPUs (so a burst
 * between two heartbeats spreads too); one ended gives its container back. Workers in `exclude`
 * (tried already) and draining ones are passed over.
 * `ready` says what waits for `key` on a worker: idle containers of a function version by
 * default, or a snapshot's restore standbys (`standbysOf`).
 */
export function pickWorker(
  nodes: readonly DirectoryNode[],
  key: string | undefined,
  exclude: ReadonlySet<string> = new Set(),
  unseen: UnseenCalls = NONE_UNSEEN,
  ready: ReadyOf = idleContainersOf,
): DirectoryNode | undefined {
  let best: DirectoryNode | undefined;
  let bestView: View | undefined;
  for (const node of nodes) {
    if (node.role !== 'worker' || node.draining || exclude.has(node.id)) continue;
    const view = viewOf(node, key, unseen, ready);
    if (!bestView || better(view, bestView)) {
      best = node;
      bestView = view;
    }
  }
  return best;
}

/** How many of what `key` names wait ready on a worker, by its heartbeat. */
export type ReadyOf = (node: DirectoryNode, key: string) => number;

export const idleContainersOf: ReadyOf = (node, versionKey) => node.idle?.[versionKey] ?? 0;
export const standbysOf: ReadyOf = (node, snapshotId) => node.standbys?.[snapshotId] ?? 0;

/** A worker as placement sees it: its heartbeat plus this gateway's calls since. */
interface View {
  id: string;
  idle: boolean;
  score: number;
  running: number;
}

function viewOf(node: DirectoryNode, key: string | undefined, unseen: UnseenCalls, ready: ReadyOf): View {
  const since = unseen(node, key);
  const idleTold = key === undefined ? 0 : ready(node, key);
  const cpus = node.capacity.cpus > 0 ? node.capacity.cpus : 1;
  return {
    id: node.id,
    idle: idleTold - since.sameVersion > 0,
    score: node.load.score + (LOAD_WEIGHTS.cpu * 100 * Math.max(0, since.calls)) / cpus,
    running: Math.max(0, node.running + since.calls),
  };
}

function better(a: View, b: View): boolean {
  if (a.idle !== b.idle) return a.idle;
  if (a.score !== b.score) return a.score < b.score;
  if (a.running !== b.running) return a.running < b.running;
  return a.id < b.id;
}
