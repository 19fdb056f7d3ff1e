import {
  type ClusterNodeRecord,
  ErrorCode,
  FaasError,
  type InstanceView,
  inScope,
  quotaExceeded,
} from '@faas/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RequestForwarder, WorkerWatch } from './forward-request.ts';
import type { InstancePlacement, InstancePlacements } from './instance-placements.ts';
import { onAWorker } from './on-a-worker.ts';
import { pickWorker, standbysOf } from './placement.ts';
import { DEFAULT_FORK_COUNT, spreadFork } from './spread-fork.ts';
import type { WorkerDirectory } from './worker-directory.ts';
import { NotStarted } from './worker-failure.ts';

/**
 * Where a gateway sends each instance and snapshot route: `placed` on the worker with the lowest
 * load score (a new instance; a restore, or a snapshot's delete, first where a standby of it
 * waits); `fork` shared out over the workers; `pinned` on the worker holding the instance the
 * route names; `list` to every worker. The snapshot routes absent here (list, get) read
 * PostgreSQL on the gateway itself. The WebSocket stream is forwarded as an upgrade. A `ticket` for
 * it is issued on the gateway, once the instance is found among the placements: tickets are in
 * Redis, so any gateway redeems it and forwards the upgrade (docs/cluster.md).
 */
type Target = 'placed' | 'pinned' | 'list' | 'fork' | 'persistent' | 'ticket';

const TARGETS: Readonly<Record<string, Target>> = {
  'POST /api/v1/instances': 'placed',
  // Its persistent mode makes an instance; the other modes run through remote-execute.ts.
  'POST /api/v1/execute/advanced': 'persistent',
  'GET /api/v1/instances': 'list',
  'GET /api/v1/instances/:id': 'pinned',
  'DELETE /api/v1/instances/:id': 'pinned',
  'POST /api/v1/instances/:id/exec': 'pinned',
  'POST /api/v1/instances/:id/stop': 'pinned',
  'POST /api/v1/instances/:id/start': 'pinned',
  'GET /api/v1/instances/:id/files': 'pinned',
  'PUT /api/v1/instances/:id/files': 'pinned',
  'GET /api/v1/instances/:id/files/tar': 'pinned',
  'POST /api/v1/instances/:id/files/tar': 'pinned',
  'GET /api/v1/instances/:id/events': 'pinned',
  'GET /api/v1/instances/:id/stream': 'pinned',
  'GET /api/v1/containers/:id/stream': 'pinned',
  'POST /api/v1/instances/:id/stream-ticket': 'ticket',
  'POST /api/v1/snapshots': 'pinned',
  'POST /api/v1/snapshots/:id/restore': 'placed',
  'POST /api/v1/snapshots/:id/fork': 'fork',
  // It forgets the restores the worker prepared of it (placed where they wait); the snapshot
  // itself is in PostgreSQL and S3. Standbys elsewhere expire unused.
  'DELETE /api/v1/snapshots/:id': 'placed',
};

export type InstanceRoutingHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/** How long a gateway waits for one worker's list before showing that worker's instances as lost. */
const LIST_TIMEOUT_MS = 10_000;

export interface InstanceRoutingOptions {
  directory: WorkerDirectory;
  placements: InstancePlacements;
  forwarder: RequestForwarder;
  /**
   * FAAS_WORKER_TIMEOUT_MS: a worker out of the registry this long (so silent for twice as long)
   * has a forwarded call for one of its instances given up (WORKER_LOST), not waited for.
   */
  workerTimeoutMs: number;
  /** A project's `instances` quota (undefined: none), as the gateway's route sync knows it. */
  instanceQuota: (project: string) => number | undefined;
  /**
   * Calls `cut` once the caller's credential is refused (gateway/credential-watch.ts); returns
   * the stop. A worker knows only the principal a gateway sent, so the gateway ends the streams
   * of a key revoked or expired or a session signed out.
   */
  watchCaller: (request: FastifyRequest, cut: () => void) => () => void;
}

/** Routes that stay open: their caller's credential is watched while they do. */
const STREAMS = new Set([
  'GET /api/v1/instances/:id/events',
  'GET /api/v1/instances/:id/stream',
  'GET /api/v1/containers/:id/stream',
]);

/**
 * A gateway's preHandler for the instance and snapshot routes (after the caller's key was
 * checked and the body parsed): each goes to a worker (TARGETS) and the worker's answer is the
 * answer. An instance whose worker is out of the cluster is `lost`: GET shows it so, DELETE
 * removes its entry, anything else is 410 FAAS_ERR_INSTANCE_LOST.
 */
export function instanceRouting(o: InstanceRoutingOptions): InstanceRoutingHook {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const route = `${request.method} ${request.routeOptions.url ?? ''}`;
    // The router answers HEAD with each GET route: it goes where the GET goes.
    const target =
      TARGETS[route] ??
      (request.method === 'HEAD' ? TARGETS[`GET ${request.routeOptions.url ?? ''}`] : undefined);
    if (target === 'placed') return forwardPlaced(o, request, reply);
    if (target === 'list') return list(o, request, reply);
    if (target === 'persistent') {
      const mode = (request.body as { mode?: unknown } | undefined)?.mode;
      return mode === 'persistent' ? forwardPlaced(o, request, reply) : undefined;
    }
    if (target === 'fork') {
      await checkForkQuota(o, request);
      const spread = await spreadFork(
        o.directory,
        o.forwarder,
        request as FastifyRequest<{ Params: { id: string } }>,
        reply,
      );
      return spread ? undefined : forwardPlaced(o, request, reply);
    }
    if (target !== 'pinned' && target !== 'ticket') return;
    const id = pinnedId(request);
    const placement = await o.placements.get(id);
    if (!placement || !inScope(request.projectScope, placement.project)) {
      throw new FaasError(ErrorCode.NOT_FOUND, `No instance "${id}"`);
    }
    const node = placement.lost ? undefined : await liveWorker(o.directory, placement.node);
    // The gateway's own route issues it (routes/session.ts); a lost instance gets none.
    if (target === 'ticket' && node) return;
    let silent = false;
    if (node) {
      try {
        if (request.headers.upgrade !== undefined) {
          await o.forwarder.forwardUpgrade(request, reply, node, watchOf(o, node));
          // The sockets are joined byte for byte: no close frame fits in, the connection is cut.
          if (STREAMS.has(route)) cutWhenRefused(o, request, request.raw.socket);
          return;
        }
        await o.forwarder.forward(request, reply, node, watchOf(o, node));
        if (STREAMS.has(route)) cutWhenRefused(o, request, reply.raw);
        return;
      } catch (err) {
        if (!(err instanceof NotStarted)) throw err;
        // Still in the registry (its heartbeats may not have run out yet) but not reachable.
        silent = true;
      }
    }
    if (route === 'GET /api/v1/instances/:id') return reply.send(lostView(placement, silent));
    // Its entry goes only once its worker is out: a worker cut off for a moment keeps it.
    if (route === 'DELETE /api/v1/instances/:id' && !silent) {
      await o.placements.remove(id);
      return reply.code(204).send();
    }
    throw new FaasError(
      ErrorCode.INSTANCE_LOST,
      `Instance "${id}" is lost: ${lostReason(placement, silent)}`,
      { details: { instance: id, worker: placement.node } },
    );
  };
}

/** Cuts a forwarded stream once its caller's credential is refused; stops watching when it ends. */
function cutWhenRefused(
  o: InstanceRoutingOptions,
  request: FastifyRequest,
  stream: { destroy(): void; once(event: 'close', listener: () => void): unknown; destroyed: boolean },
): void {
  if (stream.destroyed) return;
  const stop = o.watchCaller(request, () => stream.destroy());
  stream.once('close', stop);
}

/**
 * A fork spread over workers is checked against the project's quota here first, so that no
 * worker makes a share only for another's to be refused and the whole undone (each worker still
 * holds room for its share in Redis: that is what keeps racing creates within the quota). (Only
 * for a caller bound to one project: its snapshots are that project's.)
 * @throws FaasError QUOTA_EXCEEDED
 */
async function checkForkQuota(o: InstanceRoutingOptions, request: FastifyRequest): Promise<void> {
  const project = request.projectScope;
  const limit = project === undefined ? undefined : o.instanceQuota(project);
  if (project === undefined || limit === undefined) return;
  const count = (request.body as { count?: number } | undefined)?.count ?? DEFAULT_FORK_COUNT;
  const has = (await o.placements.list()).filter((p) => p.project === project).length;
  if (has + count > limit) throw quotaExceeded('instances', limit, 'instances');
}

/** The instance a pinned route names: in its path, or in the body of POST /snapshots. */
function pinnedId(request: FastifyRequest): string {
  const params = request.params as { id?: unknown } | undefined;
  if (typeof params?.id === 'string') return params.id;
  const body = request.body as { instance_id?: unknown } | undefined;
  return typeof body?.instance_id === 'string' ? body.instance_id : '';
}

/**
 * To the lowest-score worker, or for a snapshot's route one where a restore standby of it waits;
 * one that could not be reached is replaced by another once.
 */
async function forwardPlaced(
  o: InstanceRoutingOptions,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const snapshotId = request.routeOptions.url?.startsWith('/api/v1/snapshots/:id')
    ? (request.params as { id?: string }).id
    : undefined;
  return onAWorker(
    {
      refresh: () => o.directory.refresh(),
      place: (tried) => pickWorker(o.directory.nodes(), snapshotId, tried, undefined, standbysOf),
      none: () =>
        new FaasError(
          ErrorCode.RUNTIME_UNAVAILABLE,
          'No worker in the cluster can run instances now (none sent a heartbeat within FAAS_WORKER_TIMEOUT_MS)',
        ),
    },
    (node) => o.forwarder.forward(request, reply, node, watchOf(o, node)),
  );
}

/**
 * Every worker's instances of the caller's project (each worker filters by the principal), then
 * those whose worker is out, as lost, from the placements. Newest first.
 */
async function list(o: InstanceRoutingOptions, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const workers = o.directory.nodes().filter((n) => n.role === 'worker');
  const answered = new Set<string>();
  const items: InstanceView[] = [];
  await Promise.all(
    workers.map(async (node) => {
      const views = await listOn(o, request, node).catch(() => undefined);
      if (!views) return;
      answered.add(node.id);
      items.push(...views);
    }),
  );
  const seen = new Set(items.map((i) => i.id));
  for (const placement of await o.placements.list()) {
    if (seen.has(placement.view.id) || !inScope(request.projectScope, placement.project)) continue;
    // A live worker that answered without it: deleted meanwhile, or made after its answer.
    if (answered.has(placement.node) && !placement.lost) continue;
    items.push(
      lostView(placement, answered.has(placement.node) || workers.some((w) => w.id === placement.node)),
    );
  }
  items.sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0));
  return reply.send({ items });
}

async function listOn(
  o: InstanceRoutingOptions,
  request: FastifyRequest,
  node: ClusterNodeRecord,
): Promise<InstanceView[]> {
  const res = await fetch(new URL('/api/v1/instances', node.url), {
    headers: o.forwarder.callerHeaders(request),
    signal: AbortSignal.timeout(LIST_TIMEOUT_MS),
  });
  if (!res.ok) throw new Error(`worker ${node.id} answered ${res.status}`);
  const body = (await res.json()) as { items?: InstanceView[] };
  return Array.isArray(body.items) ? body.items : [];
}

function watchOf(o: InstanceRoutingOptions, node: ClusterNodeRecord): WorkerWatch {
  return {
    present: () => o.directory.nodes().some((n) => n.id === node.id),
    graceMs: o.workerTimeoutMs,
  };
}

/** The worker a placement names if it is in the registry (re-read once before judging it out). */
async function liveWorker(directory: WorkerDirectory, id: string): Promise<ClusterNodeRecord | undefined> {
  const find = () => directory.nodes().find((n) => n.id === id && n.role === 'worker');
  const found = find();
  if (found) return found;
  await directory.refresh();
  return find();
}

function lostReason(placement: InstancePlacement, silent = false): string {
  if (placement.lost) return placement.lost;
  return silent
    ? `its worker ${placement.node} could not be reached`
    : `its worker ${placement.node} is out of the cluster (no heartbeat within FAAS_WORKER_TIMEOUT_MS)`;
}

function lostView(placement: InstancePlacement, silent = false): InstanceView {
  return {
    ...placement.view,
    status: 'lost',
    reason: lostReason(placement, silent),
    processes: [],
    watchers: 0,
  };
}
