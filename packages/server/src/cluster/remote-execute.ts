import { type ClusterNodeRecord, ErrorCode, FaasError } from '@faas/core';
import { onAWorker } from './on-a-worker.ts';
import { pickWorker } from './placement.ts';
import {
  CLUSTER_AUTH_HEADER,
  clusterAuthValue,
  type ExecuteCall,
  type ExecuteLine,
  NOT_STARTED_HEADER,
} from './wire.ts';
import type { WorkerDirectory } from './worker-directory.ts';
import { NotStarted, parseJson, sendFailure, workerError } from './worker-failure.ts';

/**
 * Past the command's own timeout, what a worker may take to answer: an image built on first use,
 * a snapshot restored from and uploaded to S3. Bounded, so a worker that stops answering is
 * FAAS_ERR_WORKER_LOST and never a hang.
 */
export const EXECUTE_SETUP_GRACE_MS = 5 * 60_000;
/** How a run's failures are told (worker-failure.ts). */
const RUN_FAILURE = { what: 'run', deadline: "within the run's timeout plus its setup grace" };

export interface RemoteExecuteOptions {
  directory: WorkerDirectory;
  secret: string;
  /** The sandboxes' timeout when a request sets none (SANDBOX_DEFAULTS.timeoutMs). */
  defaultTimeoutMs: number;
  /** The server's log of a worker that failed a run (with its address: callers see its id only). */
  log?: (message: string, err: unknown) => void;
}

/** What a run's output is handed to, and what stops it (ExecuteOptions of the execute service). */
export interface RemoteRunOptions {
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void | Promise<void>;
  signal?: AbortSignal;
}

/**
 * A gateway's execute (every mode but persistent): each run is placed on the worker with the
 * lowest load score, like a sync container call, and the worker's ExecuteService answers it, so
 * the limits, errors and the cached mode's store (PostgreSQL) are the worker's, as on an `all`
 * node. A worker that could not be reached, or that turned the run away (draining), is replaced by
 * another once.
 */
export class RemoteExecute<Request extends ExecuteCall['request'], Result> {
  #o: RemoteExecuteOptions;

  constructor(options: RemoteExecuteOptions) {
    this.#o = options;
  }

  async execute(request: Request, mode: string, options: RemoteRunOptions = {}): Promise<Result> {
    const call: ExecuteCall = { request, mode, stream: options.onOutput !== undefined };
    return onAWorker(
      {
        refresh: () => this.#o.directory.refresh(),
        place: (tried) => pickWorker(this.#o.directory.nodes(), undefined, tried),
        none: () =>
          new FaasError(
            ErrorCode.RUNTIME_UNAVAILABLE,
            'No worker in the cluster can run sandboxes now (none sent a heartbeat within FAAS_WORKER_TIMEOUT_MS)',
            { details: { workers: this.#o.directory.nodes().length } },
          ),
      },
      (node) => this.#run(node, call, options),
    );
  }

  async #run(node: ClusterNodeRecord, call: ExecuteCall, options: RemoteRunOptions): Promise<Result> {
    const bound = AbortSignal.timeout(
      (call.request.timeoutMs ?? this.#o.defaultTimeoutMs) + EXECUTE_SETUP_GRACE_MS,
    );
    const signal = options.signal ? AbortSignal.any([options.signal, bound]) : bound;
    let res: Response;
    try {
      res = await fetch(`${node.url}/internal/v1/execute`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [CLUSTER_AUTH_HEADER]: clusterAuthValue(this.#o.secret),
        },
        body: JSON.stringify(call),
        signal,
      });
    } catch (err) {
      throw sendFailure(node, err, signal, { ...RUN_FAILURE, connected: false, log: this.#o.log });
    }
    if (!res.ok || !res.body) {
      const error = workerError(node, res.status, parseJson(await res.text().catch(() => '')));
      // Draining, or no engine there: nothing ran (the worker says so; any other 503 may have).
      if (error.code === ErrorCode.RUNTIME_UNAVAILABLE && res.headers.get(NOT_STARTED_HEADER) === '1') {
        throw new NotStarted(error);
      }
      throw error;
    }
    let pending = '';
    try {
      const decoder = new TextDecoder();
      for await (const chunk of res.body) {
        pending += decoder.decode(chunk as Uint8Array, { stream: true });
        let newline = pending.indexOf('\n');
        while (newline >= 0) {
          const line = JSON.parse(pending.slice(0, newline)) as ExecuteLine;
          pending = pending.slice(newline + 1);
          newline = pending.indexOf('\n');
          // The worker's ExecuteService made it: the same shape this gateway's would.
          if (line.type === 'result') return line.result as Result;
          if (line.type === 'error') throw workerError(node, 500, { error: line.error });
          // A slow client holds the worker's answer back, and with it the run's output.
          await options.onOutput?.(line.type, Buffer.from(line.base64, 'base64'));
        }
      }
    } catch (err) {
      if (err instanceof FaasError) throw err;
      throw sendFailure(node, err, signal, { ...RUN_FAILURE, connected: true, log: this.#o.log });
    }
    throw new FaasError(ErrorCode.WORKER_LOST, `Worker ${node.id} ended the run's answer without a result`, {
      details: { worker: node.id },
    });
  }
}
