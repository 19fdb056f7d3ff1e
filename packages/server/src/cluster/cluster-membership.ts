import { availableParallelism, hostname, totalmem } from 'node:os';
import type { ClusterNodeRecord, Config, NodeRegistry, Runtime } from '@faas/core';
import { Heartbeat } from './heartbeat.ts';
import { MachineLoad } from './machine-load.ts';

export interface MembershipOptions {
  config: Readonly<Config>;
  nodeId: string;
  registry: NodeRegistry;
  /** The worker's container runtime: its warm versions and running calls go in each heartbeat. */
  containers: Runtime | undefined;
  /** The worker's instances and restore standbys, for each heartbeat. */
  sandboxes?: () => { instances: number; standbys: Record<string, number> };
  logger: Pick<Console, 'error'>;
}

/** This node's place in the cluster: a worker heartbeats into the registry from `join` to `leave`. */
export class ClusterMembership {
  readonly nodeId: string;
  readonly registry: NodeRegistry;
  #o: MembershipOptions;
  #heartbeat: Heartbeat | undefined;
  #url: string | undefined;
  #draining = false;

  constructor(options: MembershipOptions) {
    this.#o = options;
    this.nodeId = options.nodeId;
    this.registry = options.registry;
  }

  /** The URL the other nodes reach this one at, once it listens. */
  get url(): string | undefined {
    return this.#url;
  }

  /** Called once the node listens on `port`. A worker is in the cluster when this resolves. */
  async join(port: number): Promise<void> {
    const { config } = this.#o;
    this.#url = config.advertiseUrl ?? defaultAdvertiseUrl(config, port);
    if (config.role !== 'worker') return;
    const startedAt = new Date().toISOString();
    const machine = new MachineLoad();
    const url = this.#url;
    this.#heartbeat = new Heartbeat({
      registry: this.registry,
      timeoutMs: config.workerTimeoutMs,
      sample: () => machine.sample(),
      describe: (): Omit<ClusterNodeRecord, 'load' | 'heartbeatAt'> => {
        const stats = this.#o.containers?.stats();
        return {
          id: this.nodeId,
          role: config.role,
          url,
          capacity: { cpus: availableParallelism(), memoryMb: Math.round(totalmem() / 1024 / 1024) },
          running: stats?.busy ?? 0,
          warm: Object.keys(stats?.byVersion ?? {}),
          idle: stats?.idleByVersion ?? {},
          ...this.#o.sandboxes?.(),
          ...(this.#draining ? { draining: true } : {}),
          startedAt,
        };
      },
      logger: this.#o.logger,
    });
    await this.#heartbeat.start();
  }

  /**
   * Says at once that this worker drains: gateways stop placing work here, but it stays in the
   * cluster until it leaves (once its calls in flight ended), so gateways do not give those up.
   */
  async drain(): Promise<void> {
    this.#draining = true;
    await this.#heartbeat?.beat();
  }

  /** Out of the cluster at once. */
  async leave(): Promise<void> {
    await this.#heartbeat?.stop(this.nodeId);
    this.#heartbeat = undefined;
  }

  async close(): Promise<void> {
    await this.leave();
    await this.registry.close();
  }
}

/**
 * FAAS_HOST and the port; a wildcard host is no address for another machine, so the machine's
 * host name stands in for it (set FAAS_ADVERTISE_URL where that does not resolve).
 */
function defaultAdvertiseUrl(config: Readonly<Config>, port: number): string {
  const wildcard = config.host === '0.0.0.0' || config.host === '::';
  const host = wildcard ? hostname() : config.host;
  return `${config.tlsCert ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
