import type { ClusterNodeRecord, NodeRegistry } from '@faas/core';

/** How often a gateway re-reads the registry: placement reads memory, never Redis, on a call's path. */
export const DIRECTORY_REFRESH_MS = 500;

/** A node's record as the directory keeps it, with what placement needs of it already parsed. */
export interface DirectoryNode extends ClusterNodeRecord {
  /**
   * `heartbeatAt` in ms since epoch, NaN when unreadable. Parsed once per read of the registry
   * (every DIRECTORY_REFRESH_MS) rather than on each placement decision, where parsing every
   * worker's date was most of a decision's time.
   */
  readonly heartbeatMs: number;
}

export function toDirectoryNode(record: ClusterNodeRecord): DirectoryNode {
  return { ...record, heartbeatMs: Date.parse(record.heartbeatAt) };
}

/** A gateway's copy of the registry, refreshed in the background. */
export class WorkerDirectory {
  #registry: NodeRegistry;
  #nodes: DirectoryNode[] = [];
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  #onError: (err: unknown) => void;
  #failing = false;

  constructor(registry: NodeRegistry, onError: (err: unknown) => void) {
    this.#registry = registry;
    this.#onError = onError;
  }

  /** False while the registry cannot be read (the last list it gave is still used). */
  get readable(): boolean {
    return !this.#failing;
  }

  async start(): Promise<void> {
    await this.refresh();
    this.#timer = setInterval(() => void this.refresh(), DIRECTORY_REFRESH_MS);
    this.#timer.unref();
  }

  nodes(): readonly DirectoryNode[] {
    return this.#nodes;
  }

  /** Re-reads the registry (one read at a time; callers during one share it). Never throws. */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#registry
      .list()
      .then(
        (nodes) => {
          this.#nodes = nodes.map(toDirectoryNode);
          this.#failing = false;
        },
        (err: unknown) => {
          // The last list stays: Redis down for a moment should not stop calls to live workers.
          if (!this.#failing) this.#onError(err);
          this.#failing = true;
        },
      )
      .finally(() => {
        this.#refreshing = undefined;
      });
    return this.#refreshing;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
