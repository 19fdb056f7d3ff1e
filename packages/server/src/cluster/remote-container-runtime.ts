import {
  type ClusterNodeRecord,
  ErrorCode,
  FaasError,
  type FunctionRuntime,
  type FunctionVersion,
  type InvokeOutcome,
  type InvokeRequest,
  isFaasError,
  type Runtime,
  type RuntimeHealth,
  type RuntimeStats,
} from '@faas/core';
import { boundedSignal } from './bounded-signal.ts';
import { InFlightCalls } from './in-flight-calls.ts';
import { type NodeAnswer, NodeClient } from './node-client.ts';
import { onAWorker } from './on-a-worker.ts';
import { pickWorker } from './placement.ts';
import { versionDigest } from './version-digest.ts';
import {
  CLUSTER_AUTH_HEADER,
  clusterAuthValue,
  type InvokeAnswer,
  type InvokeCall,
  NOT_STARTED_HEADER,
  outcomeFromWire,
  toWire,
} from './wire.ts';
import type { WorkerDirectory } from './worker-directory.ts';
import { NotStarted, parseJson, sendFailure, workerError } from './worker-failure.ts';

/** How long past a call's deadline a worker may take to answer before it counts as lost. */
export const WORKER_ANSWER_GRACE_MS = 5_000;
/** A deploy's preparation on a worker (image builds, dependency installs) may take this long. */
const PREPARE_TIMEOUT_MS = 15 * 60_000;
export interface RemoteContainerOptions {
  directory: WorkerDirectory;
  secret: string;
  /** The function kinds the workers' container runtime serves. */
  kinds: readonly FunctionRuntime[];
  /** The server's log of a worker that failed a call (with its address: callers see its id only). */
  log?: (message: string, err: unknown) => void;
}

/**
 * A gateway's container runtime: the same Runtime as the local one, each call sent to a worker
 * of the cluster (placement.ts). A worker that provably did not start the function (no connection,
 * or a refusal it marked so: draining, its engine down) is replaced by another once; one that goes away during the call is
 * FAAS_ERR_WORKER_LOST, never a hang: every call is bounded by its deadline plus
 * WORKER_ANSWER_GRACE_MS.
 */
export class RemoteContainerRuntime implements Runtime {
  readonly kind = 'container' as const;
  #o: RemoteContainerOptions;
  #inFlight = new InFlightCalls();
  #client = new NodeClient();

  constructor(options: RemoteContainerOptions) {
    this.#o = options;
  }

  supports(runtime: FunctionRuntime): boolean {
    return this.#o.kinds.includes(runtime);
  }

  /**
   * Down only while the registry cannot be read. No worker at all is told per call, after a fresh
   * read of the registry: a cached "no worker" would refuse calls for seconds after one joined.
   * A read that failed is tried again first: the answer is cached until the next health check,
   * and one slow moment (a busy machine, a Redis command past its timeout) refused deploys and
   * calls for that long.
   */
  async health(): Promise<RuntimeHealth> {
    if (!this.#o.directory.readable) await this.#o.directory.refresh();
    return this.#o.directory.readable
      ? { ready: true }
      : { ready: false, reason: 'the worker registry (FAAS_QUEUE_URL) cannot be read' };
  }

  async prepare(fn: FunctionVersion): Promise<void> {
    await this.#onAWorker(fn, (node) =>
      this.#post(node, '/internal/v1/prepare', { fn }, AbortSignal.timeout(PREPARE_TIMEOUT_MS), {
        repeatable: true,
      }).then(() => undefined),
    );
  }

  /**
   * The version goes by its digest; a worker without a copy of it answers so before anything
   * runs, and gets the same call again with the version (once per version and worker, or after
   * it evicted its copy), on the same connection pool and within the same deadline.
   */
  invoke(request: InvokeRequest): Promise<InvokeOutcome> {
    const call: InvokeCall = {
      invocationId: request.invocationId,
      digest: versionDigest(request.fn),
      event: toWire(request.event),
      deadline: request.deadline,
      ...(request.trace ? { traceparent: request.trace.traceparent } : {}),
    };
    return this.#onAWorker(request.fn, async (node) => {
      const { signal, release } = boundedSignal(
        request.signal,
        Math.max(0, request.deadline - Date.now()) + WORKER_ANSWER_GRACE_MS,
      );
      try {
        let answer = (await this.#post(node, '/internal/v1/invoke', call, signal).catch((err: unknown) => {
          // A worker of an older build (a rolling upgrade) refuses a call without the version.
          if (isFaasError(err) && err.code === ErrorCode.VALIDATION) return { unknownVersion: true };
          throw err;
        })) as InvokeAnswer;
        if ('unknownVersion' in answer) {
          const whole: InvokeCall = { ...call, fn: request.fn };
          answer = (await this.#post(node, '/internal/v1/invoke', whole, signal)) as InvokeAnswer;
          if ('unknownVersion' in answer) {
            throw new FaasError(
              ErrorCode.WORKER_LOST,
              `Worker ${node.id} did not take the version it was sent`,
              { details: { worker: node.id } },
            );
          }
        }
        for (const line of answer.logs) request.log(line.level, line.message, line.ts);
        return outcomeFromWire(answer.outcome);
      } finally {
        release();
      }
    });
  }

  async retire(name: string, version?: number): Promise<void> {
    const workers = this.#o.directory.nodes().filter((n) => n.role === 'worker');
    await Promise.allSettled(
      workers.map((node) =>
        this.#post(
          node,
          '/internal/v1/retire',
          { name, ...(version !== undefined ? { version } : {}) },
          AbortSignal.timeout(10_000),
        ),
      ),
    );
  }

  /** The cluster's containers as the last heartbeats tell them: warm counts one per worker and version. */
  stats(): RuntimeStats {
    let warm = 0;
    let busy = 0;
    const byVersion: Record<string, number> = {};
    for (const node of this.#o.directory.nodes()) {
      busy += node.running;
      for (const key of node.warm) {
        byVersion[key] = (byVersion[key] ?? 0) + 1;
        warm++;
      }
    }
    return { warm, busy, byVersion };
  }

  async close(): Promise<void> {
    this.#o.directory.stop();
    this.#client.close();
  }

  /**
   * Runs `work` on the placed worker, once more on another when it did not start (on-a-worker.ts),
   * each try counted in this gateway's calls to its worker until it ends.
   */
  #onAWorker<T>(fn: FunctionVersion, work: (node: ClusterNodeRecord) => Promise<T>): Promise<T> {
    const versionKey = `${fn.name}:${fn.version}`;
    return onAWorker(
      {
        refresh: () => this.#o.directory.refresh(),
        place: (tried) => pickWorker(this.#o.directory.nodes(), versionKey, tried, this.#inFlight.unseen),
        none: () =>
          new FaasError(
            ErrorCode.RUNTIME_UNAVAILABLE,
            'No worker in the cluster can run container functions now (none sent a heartbeat within FAAS_WORKER_TIMEOUT_MS)',
            { details: { workers: this.#o.directory.nodes().length } },
          ),
      },
      async (node) => {
        const end = this.#inFlight.start(node.id, versionKey);
        try {
          const result = await work(node);
          end();
          return result;
        } catch (err) {
          // One the worker never took held nothing there.
          end(!(err instanceof NotStarted));
          throw err;
        }
      },
    );
  }

  /**
   * `repeatable`: running it twice does no harm (a deploy's preparation), so any 503
   * RUNTIME_UNAVAILABLE may go to another worker; otherwise only a refusal the worker marked
   * NOT_STARTED_HEADER does.
   */
  async #post(
    node: ClusterNodeRecord,
    path: string,
    body: unknown,
    signal: AbortSignal,
    { repeatable = false } = {},
  ): Promise<unknown> {
    let res: NodeAnswer;
    try {
      res = await this.#client.post(
        `${node.url}${path}`,
        { 'content-type': 'application/json', [CLUSTER_AUTH_HEADER]: clusterAuthValue(this.#o.secret) },
        JSON.stringify(body),
        signal,
      );
    } catch (err) {
      throw sendFailure(node, err, signal, {
        log: this.#o.log,
        what: 'call',
        deadline: `by the call's deadline plus ${WORKER_ANSWER_GRACE_MS} ms`,
      });
    }
    if (res.status === 204) return undefined;
    const parsed = parseJson(res.text);
    if (res.status >= 200 && res.status < 300 && parsed !== undefined) return parsed;
    const error = workerError(node, res.status, parsed);
    // Draining, or its engine is down: the function never started there. A sandbox that died
    // under the function is a 503 RUNTIME_UNAVAILABLE too, but without the marker: it may have run.
    if (
      error.code === ErrorCode.RUNTIME_UNAVAILABLE &&
      (repeatable || res.headers[NOT_STARTED_HEADER] === '1')
    ) {
      throw new NotStarted(error);
    }
    throw error;
  }
}
