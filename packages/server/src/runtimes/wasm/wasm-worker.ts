import { Worker } from 'node:worker_threads';
import type { RunRequest, WorkerReply } from './worker-messages.ts';

type DoneReply = Extract<WorkerReply, { type: 'done' }>;
type LogReply = Extract<WorkerReply, { type: 'logs' }>;

/** Why a worker thread stopped serving: the run it had fails with this. */
export class WorkerLost extends Error {
  /** The thread ran out of its JS heap (ERR_WORKER_OUT_OF_MEMORY). */
  readonly outOfMemory: boolean;
  constructor(message: string, outOfMemory: boolean) {
    super(message);
    this.outOfMemory = outOfMemory;
  }
}

/** JS heap of one worker: stdin, stdout (≤ the result limit) and the WASI glue live there. */
const WORKER_HEAP_MB = 128;

/** One worker thread that runs WASI invocations, one at a time. */
export class WasmWorker {
  #worker: Worker;
  #online: Promise<void>;
  #current:
    | {
        id: number;
        resolve: (r: DoneReply) => void;
        reject: (e: Error) => void;
        onLog: (r: LogReply) => void;
      }
    | undefined;
  #lost: WorkerLost | undefined;
  #nextId = 1;

  constructor() {
    this.#worker = new Worker(new URL('./wasi-worker.ts', import.meta.url), {
      // The server's environment stays out of reach: the module's env is given per run.
      env: {},
      // node:wasi's ExperimentalWarning, once per thread, is noise in the server's log.
      execArgv: ['--no-warnings'],
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
    });
    this.#worker.unref();
    this.#online = new Promise((resolve, reject) => {
      this.#worker.once('online', resolve);
      this.#worker.once('error', reject);
    });
    this.#online.catch(() => {});
    this.#worker.on('message', (reply: WorkerReply) => {
      const current = this.#current;
      if (!current || reply.id !== current.id) return;
      if (reply.type === 'logs') {
        current.onLog(reply);
        return;
      }
      this.#current = undefined;
      current.resolve(reply);
    });
    this.#worker.on('error', (err: Error & { code?: string }) => {
      this.#fail(new WorkerLost(err.message, err.code === 'ERR_WORKER_OUT_OF_MEMORY'));
    });
    this.#worker.on('exit', (code) => this.#fail(new WorkerLost(`the wasm worker exited (${code})`, false)));
  }

  /** Resolves once the thread runs (or rejects when it could not start). */
  ready(): Promise<void> {
    return this.#online;
  }

  get lost(): boolean {
    return this.#lost !== undefined;
  }

  /** Runs one invocation; rejects with WorkerLost when the thread dies during it. */
  run(request: Omit<RunRequest, 'type' | 'id'>, onLog: (reply: LogReply) => void): Promise<DoneReply> {
    if (this.#lost) return Promise.reject(this.#lost);
    if (this.#current) return Promise.reject(new Error('the wasm worker is busy'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#current = { id, resolve, reject, onLog };
      this.#worker.postMessage({ type: 'run', id, ...request } satisfies RunRequest);
    });
  }

  /** Stops the thread, whatever it runs (worker.terminate() interrupts wasm code). */
  async terminate(): Promise<void> {
    this.#fail(new WorkerLost('the wasm worker was stopped', false));
    await this.#worker.terminate();
  }

  #fail(err: WorkerLost): void {
    this.#lost ??= err;
    const current = this.#current;
    this.#current = undefined;
    current?.reject(this.#lost);
  }
}
