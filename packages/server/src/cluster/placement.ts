import type { ClusterNodeRecord } from '@faas/core';

/**
 * Where a container call goes: a worker with a warm container of its version first (no cold
 * start), else the lowest load score; ties go to the worker running fewer calls, then by id so
 * that the choice is stable. Workers in `exclude` (tried already) are passed over.
 */
export function pickWorker(
  nodes: readonly ClusterNodeRecord[],
  versionKey: string | undefined,
  exclude: ReadonlySet<string> = new Set(),
): ClusterNodeRecord | undefined {
  let best: ClusterNodeRecord | undefined;
  let bestWarm = false;
  for (const node of nodes) {
    if (node.role !== 'worker' || exclude.has(node.id)) continue;
    const warm = versionKey !== undefined && node.warm.includes(versionKey);
    if (!best || better(node, warm, best, bestWarm)) {
      best = node;
      bestWarm = warm;
    }
  }
  return best;
}

function better(a: ClusterNodeRecord, aWarm: boolean, b: ClusterNodeRecord, bWarm: boolean): boolean {
  if (aWarm !== bWarm) return aWarm;
  if (a.load.score !== b.load.score) return a.load.score < b.load.score;
  if (a.running !== b.running) return a.running < b.running;
  return a.id < b.id;
}
