import type { Readable } from 'node:stream';
import type { InstanceSpec } from '@faas/core';
import type { ContainerTally } from '../container-roles.ts';
import { PendingWork } from '../pending-work.ts';
import type { Instance } from './instance.ts';

export interface RestoreStandbysOptions {
  /** Most standbys held at once, over all snapshots; 0 turns them off. */
  capacity: number;
  /** A snapshot's standby not taken for this long is removed. */
  idleMs: number;
  /** Restores the checkpoint (read with `load`) into a new container and pauses it there. */
  restorePaused: (spec: InstanceSpec, load: LoadCheckpoint) => Promise<Instance>;
  /** Removes a standby's container. */
  remove: (standby: Instance) => Promise<void>;
  onError: (message: string, err: unknown) => void;
}

/** Opens a snapshot's checkpoint as a tar stream, each time one is restored (never held in memory). */
export type LoadCheckpoint = () => Promise<Readable>;

interface Entry {
  spec: InstanceSpec;
  load: LoadCheckpoint;
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
  /** Restores and removals in flight. */
  #work = new PendingWork();
  /** Deleted snapshots: a restore that was running then must not make standbys for them again. */
  #dropped = new Set<string>();
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

  /** Paused standbys ready now, per snapshot id (a worker's heartbeat: restores go where one waits). */
  readyBySnapshot(): Record<string, number> {
    const ready: Record<string, number> = {};
    for (const [key, entry] of this.#entries) if (entry.ready.length > 0) ready[key] = entry.ready.length;
    return ready;
  }

  /** Counts its standbys, ready or being made, into `tally` (role `standby`). */
  countContainers(tally: ContainerTally): void {
    for (const entry of this.#entries.values()) {
      tally.add(entry.spec.isolation, 'standby', entry.ready.length + (entry.filling ? 1 : 0));
    }
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
  fill(key: string, spec: InstanceSpec, load: LoadCheckpoint, want = 1): void {
    if (this.#closed || this.#options.capacity <= 0 || this.#dropped.has(key)) return;
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = {
        spec,
        load,
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
    this.#work.add(
      this.#options
        .restorePaused(entry.spec, entry.load)
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

  /** The snapshot is gone: its standbys are removed, and none are made for it again. */
  async drop(key: string): Promise<void> {
    // Ids are never reused; the bound only keeps a long-running server's set small.
    if (this.#dropped.size >= 10_000) this.#dropped.clear();
    this.#dropped.add(key);
    await this.#release(key);
  }

  /** Removes a snapshot's standbys (it may get new ones later). */
  async #release(key: string): Promise<void> {
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
    await Promise.all(stale.map(([key]) => this.#release(key)));
  }

  /** Resolves when no standby is being restored or removed. */
  settled(): Promise<void> {
    return this.#work.drain();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#work.drain();
    await Promise.all([...this.#entries.keys()].map((key) => this.#release(key)));
  }

  #takeClaim(entry: Entry): ((standby: Instance | undefined) => void) | undefined {
    const claim = entry.claim;
    entry.claim = undefined;
    return claim;
  }

  /** Gives up standbys of snapshots used less recently than `keep` until one more fits. */
  #makeRoom(keep: string): void {
    const since = this.#entries.get(keep)?.lastUsedAt ?? Date.now();
    const older = [...this.#entries]
      .filter(([key, entry]) => key !== keep && entry.lastUsedAt < since)
      .sort(([, a], [, b]) => a.lastUsedAt - b.lastUsedAt);
    for (const [key, entry] of older) {
      if (this.count < this.#options.capacity) return;
      if (entry.ready.length > 0) void this.#release(key);
    }
  }

  #remove(standby: Instance): Promise<void> {
    const removal = this.#options
      .remove(standby)
      .catch((err) => this.#options.onError(`removing standby ${standby.id} failed`, err));
    this.#work.add(removal);
    return removal;
  }
}
