import { type ClusterNodeRecord, ErrorCode, FaasError, type InstanceView } from '@faas/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RequestForwarder } from './forward-request.ts';
import { pickWorker, standbysOf } from './placement.ts';
import type { DirectoryNode, WorkerDirectory } from './worker-directory.ts';
import { parseJson, workerError } from './worker-failure.ts';

/** The fork route's own default (routes/snapshots.ts). */
export const DEFAULT_FORK_COUNT = 2;
/** A restore moves the checkpoint from S3 and starts a sandbox: minutes at worst, never for ever. */
const FORK_TIMEOUT_MS = 5 * 60_000;

/**
 * A fork of N through a gateway: the N instances are shared out over the workers by load score,
 * each one placed counting as one CPU busy on its worker (as a container call between two
 * heartbeats), and each worker forks its share at once. All or nothing, as on one server: when
 * one worker's share fails, the instances the others made are deleted and its error is the answer.
 * @returns false when there is nothing to spread (one instance, or one worker): forward it whole
 */
export async function spreadFork(
  directory: WorkerDirectory,
  forwarder: RequestForwarder,
  request: FastifyRequest<{ Params: { id: string } }>,
  reply: FastifyReply,
): Promise<boolean> {
  const count = (request.body as { count?: number } | undefined)?.count ?? DEFAULT_FORK_COUNT;
  const shares = shareOut(directory.nodes(), request.params.id, count);
  if (shares.size <= 1) return false;
  const headers = { ...forwarder.callerHeaders(request), 'content-type': 'application/json' };
  const path = `/api/v1/snapshots/${encodeURIComponent(request.params.id)}/fork`;
  const made: Array<{ node: ClusterNodeRecord; view: InstanceView }> = [];
  const failures: FaasError[] = [];
  await Promise.all(
    [...shares].map(async ([node, share]) => {
      try {
        const res = await fetch(new URL(path, node.url), {
          method: 'POST',
          headers,
          body: JSON.stringify({ count: share }),
          signal: AbortSignal.timeout(FORK_TIMEOUT_MS),
        });
        const text = await res.text();
        if (res.status !== 201) throw workerError(node, res.status, parseJson(text));
        for (const view of (JSON.parse(text) as { instances: InstanceView[] }).instances)
          made.push({ node, view });
      } catch (err) {
        failures.push(
          err instanceof FaasError
            ? err
            : new FaasError(ErrorCode.WORKER_LOST, `Worker ${node.id} did not finish its share of the fork`, {
                details: { worker: node.id },
                cause: err,
              }),
        );
      }
    }),
  );
  if (failures.length > 0) {
    await Promise.all(
      made.map(({ node, view }) =>
        fetch(new URL(`/api/v1/instances/${encodeURIComponent(view.id)}`, node.url), {
          method: 'DELETE',
          headers: forwarder.callerHeaders(request),
          signal: AbortSignal.timeout(60_000),
        }).catch(() => {}),
      ),
    );
    throw failures[0];
  }
  made.sort((a, b) => (a.view.created_at < b.view.created_at ? -1 : 1));
  await reply.code(201).send({ instances: made.map((m) => m.view) });
  return true;
}

/**
 * How many instances each worker makes: one at a time, first where a restore standby of the
 * snapshot waits (each one given takes one), then to the lowest score, each adding its load.
 */
export function shareOut(
  nodes: readonly DirectoryNode[],
  snapshotId: string,
  count: number,
): Map<DirectoryNode, number> {
  const shares = new Map<DirectoryNode, number>();
  const given = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const mine = (n: DirectoryNode) => given.get(n.id) ?? 0;
    const node = pickWorker(
      nodes,
      snapshotId,
      new Set(),
      (n) => ({ calls: mine(n), sameVersion: mine(n) }),
      standbysOf,
    );
    if (!node) break;
    given.set(node.id, (given.get(node.id) ?? 0) + 1);
    shares.set(node, (shares.get(node) ?? 0) + 1);
  }
  return shares;
}
