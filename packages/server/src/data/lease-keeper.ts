import type { LeasedJob, LeaseRef, Queue } from '@faas/core';

interface Held {
  token: string;
  controller: AbortController;
  /** Local time until which the lease is known to be this holder's (its last renewal + lease). */
  until: number;
}

export interface LeaseKeeperOptions {
  queue: Queue;
  /** The lease each renewal asks for; renewals run every half of it. */
  leaseMs: number;
  logger?: Pick<Console, 'warn'>;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Keeps the leases of the jobs one consumer holds, as BullMQ's lock manager does: one timer renews
 * all of them every half lease in a single `extendMany` call. A lease is lost when the queue says
 * so (another consumer leased the job after it ran out, or it ended) or when it could not be
 * renewed before it ran out (the queue unreachable: ownership can no longer be proven). A lost
 * lease's signal aborts, so its run stops and writes nothing.
 *
 * A holder that stalls (its event loop blocked, its process stopped) renews nothing meanwhile; on
 * waking, the first renewal asks the queue, which is the authority: a lease nobody took over is
 * still this holder's, one another consumer took is lost.
 */
export class LeaseKeeper {
  #o: LeaseKeeperOptions;
  #now: () => number;
  #held = new Map<string, Held>();
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> = Promise.resolve();
  #running = false;
  /** Renewal calls that failed (the queue unreachable), for metrics. */
  renewalFailures = 0;
  /** Leases lost while held, for metrics. */
  leasesLost = 0;

  constructor(options: LeaseKeeperOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Tracks a freshly leased job; its signal aborts if the lease is lost. */
  hold(job: LeasedJob): AbortSignal {
    const controller = new AbortController();
    const until = Math.min(job.leaseExpiresAt, this.#now() + this.#o.leaseMs);
    // This consumer leased the job again after its older lease ran out unrenewed (a stall): that
    // older run is no longer the job's, and would otherwise go on beside the new one.
    const older = this.#held.get(job.id);
    if (older && older.token !== job.leaseToken) {
      this.#lose(job.id, older, 'this consumer leased the job again after the lease ran out');
    }
    this.#held.set(job.id, { token: job.leaseToken, controller, until });
    return controller.signal;
  }

  /** Stops renewing a job's lease (it was acked, failed, handed back or lost). */
  drop(id: string, token: string): void {
    if (this.#held.get(id)?.token === token) this.#held.delete(id);
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule();
  }

  /** Stops the timer; waits for a renewal under way. Leases still held are no longer renewed. */
  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    await this.#tick;
  }

  /**
   * Whether a held lease is past the time it is known to be this holder's: the holder stalled
   * (a blocked event loop) longer than the lease, and the queue counts the job as due again.
   */
  get overdue(): boolean {
    const now = this.#now();
    for (const held of this.#held.values()) if (now >= held.until) return true;
    return false;
  }

  /** Renews every held lease now (the timer does this each half lease). */
  renewNow(): Promise<void> {
    this.#tick = this.#tick.then(() => this.#renew());
    return this.#tick;
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#timer = setTimeout(
      () => {
        void this.renewNow().finally(() => this.#schedule());
      },
      Math.max(1, Math.floor(this.#o.leaseMs / 2)),
    );
    this.#timer.unref();
  }

  async #renew(): Promise<void> {
    const leases: LeaseRef[] = [...this.#held].map(([id, held]) => ({ id, leaseToken: held.token }));
    if (leases.length === 0) return;
    const askedAt = this.#now();
    let lost: Set<string>;
    try {
      lost = new Set(await this.#o.queue.extendMany(leases, this.#o.leaseMs));
    } catch (err) {
      this.renewalFailures++;
      this.#o.logger?.warn(`queue consumer: renewing ${leases.length} lease(s) failed`, err);
      const now = this.#now();
      for (const { id, leaseToken } of leases) {
        const held = this.#held.get(id);
        if (held?.token === leaseToken && now >= held.until) {
          this.#lose(id, held, 'it could not be renewed before it ran out');
        }
      }
      return;
    }
    for (const { id, leaseToken } of leases) {
      const held = this.#held.get(id);
      if (held?.token !== leaseToken) continue;
      if (lost.has(id)) this.#lose(id, held, 'the queue has given the job to another consumer, or ended it');
      else held.until = askedAt + this.#o.leaseMs;
    }
  }

  #lose(id: string, held: Held, why: string): void {
    this.#held.delete(id);
    this.leasesLost++;
    this.#o.logger?.warn(`queue consumer: lost the lease of job ${id}: ${why}; its run stops writing`);
    held.controller.abort(new Error(`The lease of job ${id} was lost: ${why}`));
  }
}
