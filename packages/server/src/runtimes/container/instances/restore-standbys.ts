import type { InstanceSpec } from '@faas/core';
import { PendingWork } from '../pending-work.ts';
import type { Instance } from './instance.ts';

export interface RestoreStandbysOptions {
  /** Most standbys held at once, over all snapshots; 0 turns them off. */
  capacity: number;
  /** A snapshot's standby not taken for this long is removed. */
  idleMs: number;
  /** Restores the checkpoint into a new container and pauses it there. */
  restorePaused: (spec: InstanceSpec, checkpoint: Uint8Array) => Promise<Instance>;
  /** Removes a standby's container. */
  remove: (standby: Instance) => Promise<void>;
  onError: (message: string, err: unknown) => void;
}

interface Entry {
  spec: InstanceSpec;
  checkpoint: Uint8Array;
  ready: Instance[];
  /** One standby is restored at a time, so the refill takes one core, not all. */
  filling: boolean;
  /** How many to hold: the largest fork asked of the snapshot (at least 1). */
  want: number;
  /** A caller waiting for the standby being restored: it gets it instead of `ready`. */
  claim: ((standby: Instance | undefined) => void) | undefined;
  lastUsedAt: number;
}

/**
 * Instances restored ahead of time from recently used memory snapshots and paused at once. A
 * restore takes one and unpauses it (tens of ms) instead of waiting for runsc to restore (about
 * 250 ms here), and a new one is restored in the background. The processes of a standby ran only
 * between the restore and the pause, so they continue from the snapshot as a direct restore would.
 * Keyed by snapshot id; a snapshot forked N ways keeps up to N; least recently used snapshots
 * lose theirs first when over capacity.
 */
export class RestoreStandbys {
  #options: RestoreStandbysOptions;
  #entries = new Map<string, Entry>();
  #fills = new PendingWork();
  #closed = false;

  constructor(options: RestoreStandbysOptions) {
    this.#options = options;
  }

  /** Containers held or being made: counted as the runtime's own. */
  get count(): number {
    let count = 0;
    for (const entry of this.#entries.values()) count += entry.ready.length + (entry.filling ? 1 : 0);
    return count;
  }

  /**
   * Up to `count` paused standbys of the snapshot, now the caller's: the ready ones, and when
   * more are wanted, the one being restored (`pending`; undefined if that restore fails), which
   * is nearer done than a restore the caller would start now.
   */
  take(key: string, count: number): { ready: Instance[]; pending?: Promise<Instance | undefined> } {
    const entry = this.#entries.get(key);
    if (!entry) return { ready: [] };
    entry.lastUsedAt = Date.now();
    const ready = entry.ready.splice(0, count);
    if (ready.length === count || !entry.filling || entry.claim) return { ready };
    const pending = new Promise<Instance | undefined>((resolve) => {
      entry.claim = resolve;
    });
    return { ready, pending };
  }

  /**
   * Has standbys of the snapshot restored in the background until `want` are ready (within
   * capacity). Never throws.
   */
  fill(key: string, spec: InstanceSpec, checkpoint: Uint8Array, want = 1): void {
    if (this.#closed || this.#options.capacity <= 0) return;
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = {
        spec,
        checkpoint,
        ready: [],
        filling: false,
        want: 1,
        claim: undefined,
        lastUsedAt: Date.now(),
      };
      this.#entries.set(key, entry);
    }
    entry.lastUsedAt = Date.now();
    entry.want = Math.min(Math.max(entry.want, want), this.#options.capacity);
    this.#pump(key, entry);
  }

  #pump(key: string, entry: Entry): void {
    if (this.#closed || entry.filling || entry.ready.length >= entry.want) return;
    this.#makeRoom(key);
    if (this.count >= this.#options.capacity) return;
    entry.filling = true;
    this.#fills.add(
      this.#options
        .restorePaused(entry.spec, entry.checkpoint)
        .then(async (standby) => {
          const claim = this.#takeClaim(entry);
          if (claim) claim(standby);
          else if (this.#entries.get(key) === entry && !this.#closed) entry.ready.push(standby);
          else await this.#remove(standby);
        })
        .then(
          () => {
            entry.filling = false;
            if (this.#entries.get(key) === entry) this.#pump(key, entry);
          },
          (err) => {
            // Not retried until the snapshot is used again: a broken checkpoint stays broken.
            entry.filling = false;
            this.#takeClaim(entry)?.(undefined);
            this.#options.onError(`restoring a standby of snapshot ${key} failed`, err);
          },
        ),
    );
  }

  /** The snapshot is gone: its standbys are removed. */
  async drop(key: string): Promise<void> {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    await Promise.all(entry.ready.splice(0).map((standby) => this.#remove(standby)));
  }

  /** Removes the standbys of snapshots not restored since `now - idleMs`. */
  async expire(now = Date.now()): Promise<void> {
    const stale = [...this.#entries].filter(
      ([, entry]) => !entry.filling && entry.lastUsedAt + this.#options.idleMs <= now,
    );
    await Promise.all(stale.map(([key]) => this.drop(key)));
  }

  /** Resolves when no standby is being restored. */
  settled(): Promise<void> {
    return this.#fills.drain();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#fills.drain();
    await Promise.all([...this.#entries.keys()].map((key) => this.drop(key)));
  }

  #takeClaim(entry: Entry): ((standby: Instance | undefined) => void) | undefined {
    const claim = entry.claim;
    entry.claim = undefined;
    return claim;
  }

  /** Drops least recently used snapshots' standbys until one more fits. */
  #makeRoom(keep: string): void {
    const others = [...this.#entries]
      .filter(([key]) => key !== keep)
      .sort(([, a], [, b]) => a.lastUsedAt - b.lastUsedAt);
    for (const [key, entry] of others) {
      if (this.count < this.#options.capacity) return;
      if (entry.ready.length > 0) void this.drop(key);
    }
  }

  async #remove(standby: Instance): Promise<void> {
    await this.#options
      .remove(standby)
      .catch((err) => this.#options.onError(`removing standby ${standby.id} failed`, err));
  }
}
