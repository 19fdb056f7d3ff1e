import { Worker } from 'node:worker_threads';

/** How often the checkpointer copies the WAL into the database file. */
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 1_000;

export interface WalCheckpointerOptions {
  /** @default DEFAULT_CHECKPOINT_INTERVAL_MS */
  intervalMs?: number;
  busyTimeoutMs: number;
  onError: (err: unknown) => void;
  /** The thread ended without being stopped (it failed): the caller checkpoints again itself. */
  onLost: () => void;
}

/**
 * Runs a SQLite database's WAL checkpoints on a thread of its own. With SQLite's automatic
 * checkpoint, the commit that takes the WAL past 1,000 pages copies them into the database file and
 * fsyncs both, inside that commit: on the serving thread, a stop of tens to hundreds of ms on a
 * busy disk (the invocation recorder's writes, docs/benchmarks.md). The serving connections turn
 * theirs off (`SqliteDatabase.disableAutoCheckpoint`) and this one checkpoints every interval.
 * Durability does not change: with `synchronous = NORMAL` a commit is in the WAL when it returns,
 * whoever checkpoints it later.
 */
export class WalCheckpointer {
  #worker: Worker;
  #stopped: Promise<void> | undefined;
  #exited = false;
  /** Checkpoints that ran, for tests and metrics. */
  checkpoints = 0;

  constructor(path: string, options: WalCheckpointerOptions) {
    this.#worker = new Worker(new URL('./wal-checkpointer-thread.ts', import.meta.url), {
      workerData: {
        path,
        intervalMs: options.intervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS,
        busyTimeoutMs: options.busyTimeoutMs,
      },
    });
    this.#worker.on('message', (message: { kind: string; message?: string }) => {
      if (message.kind === 'checkpointed') this.checkpoints++;
      else if (message.kind === 'failed')
        options.onError(new Error(`WAL checkpoint failed: ${message.message}`));
    });
    this.#worker.on('error', options.onError);
    this.#worker.on('exit', () => {
      this.#exited = true;
      if (!this.#stopped) options.onLost();
    });
    // A process with nothing else to do may exit: its last connection's close checkpoints anyway.
    this.#worker.unref();
  }

  /** Stops the thread and closes its connection. */
  stop(): Promise<void> {
    this.#stopped ??= new Promise<void>((resolve) => {
      if (this.#exited) return resolve();
      this.#worker.once('exit', () => resolve());
      // Kept alive until it exits: a close awaiting it is maybe all the process has left to do.
      this.#worker.ref();
      this.#worker.postMessage({ kind: 'stop' });
    });
    return this.#stopped;
  }
}
