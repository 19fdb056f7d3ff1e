import { WasmWorker } from './wasm-worker.ts';

export interface WorkerPoolOptions {
  /** Threads at most (running or idle); past it, invocations wait for one. */
  maxWorkers: number;
  /** Idle threads kept started, so a call does not wait for a thread to boot. */
  warmWorkers: number;
  logger: Pick<Console, 'error'>;
}

interface Waiter {
  resolve: (worker: WasmWorker | undefined) => void;
}

/**
 * The worker threads wasm functions run in. A thread serves any function (the compiled module
 * comes with each run); one that was stopped (timeout, crash) is replaced. Threads start lazily,
 * on the first wasm call or deploy, so a server without wasm functions starts none.
 */
export class WasmWorkerPool {
  #options: WorkerPoolOptions;
  #idle: WasmWorker[] = [];
  #starting = 0;
  #count = 0;
  #waiters: Waiter[] = [];
  #closed = false;

  constructor(options: WorkerPoolOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#count;
  }

  /** Starts threads until `warmWorkers` are idle or starting. */
  warm(): void {
    while (
      !this.#closed &&
      this.#idle.length + this.#starting < this.#options.warmWorkers &&
      this.#count < this.#options.maxWorkers
    ) {
      this.#start();
    }
  }

  /**
   * A thread for one run; undefined when `signal` aborts first (the caller's deadline or cancel).
   * Give it back with `release`, or `discard` it when it was stopped.
   */
  acquire(signal: AbortSignal): Promise<WasmWorker | undefined> {
    const idle = this.#idle.pop();
    if (idle) {
      this.warm();
      return Promise.resolve(idle);
    }
    if (this.#closed || signal.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        resolve: (worker) => {
          signal.removeEventListener('abort', onAbort);
          resolve(worker);
        },
      };
      const onAbort = () => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(undefined);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
      if (this.#count < this.#options.maxWorkers) this.#start();
      else this.warm();
    });
  }

  release(worker: WasmWorker): void {
    if (worker.lost) {
      void this.discard(worker);
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(worker);
    else if (this.#closed) void this.discard(worker);
    else this.#idle.push(worker);
  }

  /** Stops a thread and starts a replacement when someone waits or too few are warm. */
  async discard(worker: WasmWorker): Promise<void> {
    this.#count--;
    const stopped = worker.terminate();
    if (this.#waiters.length > 0 && !this.#closed) this.#start();
    this.warm();
    await stopped;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(undefined);
    const idle = this.#idle.splice(0);
    this.#count -= idle.length;
    await Promise.all(idle.map((w) => w.terminate()));
  }

  #start(): void {
    this.#count++;
    this.#starting++;
    const worker = new WasmWorker();
    worker.ready().then(
      () => {
        this.#starting--;
        this.release(worker);
      },
      (err: unknown) => {
        this.#starting--;
        this.#count--;
        this.#options.logger.error('a wasm worker thread failed to start', err);
        // Whoever waits is told now rather than at its deadline.
        for (const waiter of this.#waiters.splice(0)) waiter.resolve(undefined);
      },
    );
  }
}
