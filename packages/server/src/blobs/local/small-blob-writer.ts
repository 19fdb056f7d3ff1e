import { Worker } from 'node:worker_threads';
import type { SmallBlobWrite, SmallBlobWritten } from './small-blob-writer-thread.ts';

/** A writer thread with nothing to do for this long ends; the next write starts another. */
const DEFAULT_IDLE_EXIT_MS = 10_000;

/**
 * Writes small blobs durably (write, fsync, rename, fsync of the folder) on a thread of its own.
 * On the calling thread each of those steps was a trip to libuv's pool and back, ~0.3 ms of wall
 * time apiece on these machines: 9 a blob, most of a small deploy's two puts. Done here with
 * blocking calls, a blob costs the caller one message each way, and a file system busy with
 * another fsync (whose journal a new file waits for: up to 6 ms seen) never stops the caller.
 * The thread ends when idle, so a server that is not deploying does not keep it.
 */
export class SmallBlobWriter {
  #worker: Worker | undefined;
  #pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  #nextId = 1;
  #idle: NodeJS.Timeout | undefined;
  #closed = false;
  #idleExitMs: number;

  constructor(options: { idleExitMs?: number } = {}) {
    this.#idleExitMs = options.idleExitMs ?? DEFAULT_IDLE_EXIT_MS;
  }

  /** Whether its thread is running now. */
  get running(): boolean {
    return this.#worker !== undefined;
  }

  /** Writes `data` to `staged` (a new file), then renames it to `target`, all made durable. */
  write(staged: string, target: string, data: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('The blob store is closed'));
    const worker = this.#running();
    const id = this.#nextId++;
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      clearTimeout(this.#idle);
      worker.ref();
      worker.postMessage({ id, staged, target, data } satisfies SmallBlobWrite);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#stop();
  }

  #running(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL('./small-blob-writer-thread.ts', import.meta.url));
    worker.on('message', (answer: SmallBlobWritten) => this.#answered(answer));
    worker.on('error', (err) => this.#lost(worker, err));
    worker.on('exit', (code) =>
      this.#lost(worker, new Error(`The blob writer thread exited (code ${code})`)),
    );
    this.#worker = worker;
    return worker;
  }

  #answered(answer: SmallBlobWritten): void {
    const waiter = this.#pending.get(answer.id);
    if (!waiter) return;
    this.#pending.delete(answer.id);
    if ('error' in answer) {
      waiter.reject(Object.assign(new Error(answer.error.message), { code: answer.error.code }));
    } else {
      waiter.resolve();
    }
    if (this.#pending.size > 0) return;
    this.#worker?.unref();
    this.#idle = setTimeout(() => void this.#stop(), this.#closed ? 0 : this.#idleExitMs);
    this.#idle.unref();
  }

  /** The thread failed or ended: what it held fails, and the next write starts another. */
  #lost(worker: Worker, err: Error): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    for (const waiter of this.#pending.values()) waiter.reject(err);
    this.#pending.clear();
  }

  async #stop(): Promise<void> {
    clearTimeout(this.#idle);
    const worker = this.#worker;
    if (!worker || this.#pending.size > 0) return;
    this.#worker = undefined;
    await worker.terminate();
  }
}
