import type { ClusterNodeRecord, NodeRegistry } from '@faas/core';
import type { LoadSample } from './load-score.ts';
import { LoadScore } from './load-score.ts';

/** How often a worker tells the cluster it is alive, and its load. */
export const HEARTBEAT_EVERY_MS = 1_000;

export interface HeartbeatOptions {
  registry: NodeRegistry;
  /** FAAS_WORKER_TIMEOUT_MS: how long one heartbeat keeps the node in. */
  timeoutMs: number;
  sample: () => LoadSample;
  /** The node as it is now, but for its load (measured here) and the heartbeat's time. */
  describe: () => Omit<ClusterNodeRecord, 'load' | 'heartbeatAt'>;
  logger: Pick<Console, 'error'>;
}

/** Keeps a node in the registry while it runs, and takes it out when it stops. */
export class Heartbeat {
  #o: HeartbeatOptions;
  #score = new LoadScore();
  #timer: NodeJS.Timeout | undefined;
  #beating: Promise<void> = Promise.resolve();
  #failing = false;

  constructor(options: HeartbeatOptions) {
    this.#o = options;
  }

  /** Beats once (so the node is in when this resolves), then every HEARTBEAT_EVERY_MS. */
  async start(): Promise<void> {
    await this.beat();
    this.#timer = setInterval(() => {
      this.#beating = this.beat();
    }, HEARTBEAT_EVERY_MS);
    this.#timer.unref();
  }

  async beat(): Promise<void> {
    const load = this.#score.update(this.#o.sample());
    const node: ClusterNodeRecord = { ...this.#o.describe(), load, heartbeatAt: new Date().toISOString() };
    try {
      await this.#o.registry.heartbeat(node, this.#o.timeoutMs);
      this.#failing = false;
    } catch (err) {
      // Once per outage: a Redis that is down for a minute should not write sixty lines.
      if (!this.#failing) this.#o.logger.error('cluster heartbeat failed', err);
      this.#failing = true;
    }
  }

  /** Stops beating and leaves the cluster, so no gateway sends work here meanwhile. */
  async stop(id: string): Promise<void> {
    clearInterval(this.#timer);
    await this.#beating;
    await this.#o.registry
      .leave(id)
      .catch((err: unknown) => this.#o.logger.error('leaving the cluster failed', err));
  }
}
