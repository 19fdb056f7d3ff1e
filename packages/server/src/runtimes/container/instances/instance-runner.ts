import type { Duplex } from 'node:stream';
import type { DependencyCache } from '@faas/core';
import { DEFAULT_PROJECT, ErrorCode, FaasError } from '@faas/core';
import type Docker from 'dockerode';
import type { CacheMounts } from '../dependency-caches.ts';
import { engineStatus, missingImageError } from '../docker-engine.ts';
import type { EgressReady } from '../network/egress-network.ts';
import { sandboxAgentBinary } from './agent-binary.ts';
import { AgentLink } from './agent-link.ts';
import { startFromCheckpoint } from './engine-checkpoints.ts';
import type { Instance } from './instance.ts';
import { attachAgent, createInstanceContainer, type InstanceIdentity } from './instance-container.ts';
import { killContainer } from './instance-recovery.ts';

export interface InstanceRunnerOptions {
  docker: Docker;
  ownerId: string;
  /** Where the sandbox agent binary is built. */
  agentDir: string;
  busyboxPath: string;
  /** Makes sure the image is in the engine where the runtime can build it (the default image). */
  ensureImage: (image: string) => Promise<void>;
  /** Mounts a project's dependency caches. */
  prepareCaches: (project: string, caches: DependencyCache[]) => Promise<CacheMounts>;
  /** The egress network for instances with network; refuses when it is not guarded. */
  egress: () => Promise<EgressReady>;
  /** How long a starting agent may take to answer. @default 15000 */
  agentTimeoutMs?: number;
  logger?: Pick<Console, 'warn'>;
}

const READY_TIMEOUT_MS = 15_000;

/**
 * The container side of instances: makes their containers, starts them (fresh or from a
 * checkpoint) and keeps a link to each one's agent, noticing when a container stops on its own.
 */
export class InstanceRunner {
  #options: InstanceRunnerOptions;
  #agentPath: Promise<string> | undefined;
  #closed = false;

  constructor(options: InstanceRunnerOptions) {
    this.#options = options;
  }

  get docker(): Docker {
    return this.#options.docker;
  }

  get agentTimeoutMs(): number {
    return this.#options.agentTimeoutMs ?? READY_TIMEOUT_MS;
  }

  /** Creates (does not start) a container for the identity; a standby's is named as one. */
  async createContainer(
    identity: InstanceIdentity,
    role: 'instance' | 'standby' = 'instance',
  ): Promise<Docker.Container> {
    this.#agentPath ??= sandboxAgentBinary(this.#options.agentDir);
    this.#agentPath.catch(() => {
      this.#agentPath = undefined;
    });
    const agentPath = await this.#agentPath;
    await this.#options.ensureImage(identity.spec.image);
    const { spec } = identity;
    const caches = spec.dependencyCaches?.length
      ? await this.#options.prepareCaches(spec.project ?? DEFAULT_PROJECT, spec.dependencyCaches)
      : undefined;
    const egress = spec.network ? await this.#options.egress() : undefined;
    try {
      return await createInstanceContainer(
        {
          docker: this.#options.docker,
          ownerId: this.#options.ownerId,
          agentPath,
          busyboxPath: this.#options.busyboxPath,
          ...(egress ? { egress } : {}),
          ...(caches ? { caches } : {}),
        },
        identity,
        role,
      );
    } catch (err) {
      if (engineStatus(err) === 404) {
        throw missingImageError(identity.spec.image, err);
      }
      throw new FaasError(
        ErrorCode.RUNTIME_UNAVAILABLE,
        `Could not create the instance: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  /** Starts the container (from a checkpoint when named) with a fresh link, and waits for the agent. */
  async run(instance: Instance, checkpoint?: string): Promise<void> {
    const container = this.#options.docker.getContainer(instance.containerId);
    instance.state = 'starting';
    instance.reason = undefined;
    const link = this.#newLink(instance, await attachAgent(container));
    try {
      if (checkpoint) {
        link.resync();
        await startFromCheckpoint(this.#options.docker, instance.containerId, checkpoint);
      } else {
        await container.start();
      }
      await link.ping(this.agentTimeoutMs);
    } catch (err) {
      link.close();
      throw err;
    }
    instance.state = 'running';
    instance.touch();
    instance.publishState();
  }

  /** Links to a running container's agent (after a server restart). */
  async link(instance: Instance): Promise<void> {
    const container = this.#options.docker.getContainer(instance.containerId);
    const link = this.#newLink(instance, await attachAgent(container));
    instance.state = 'running';
    // The stream may join the agent's output mid-frame: skip to the ping's answer.
    link.resync();
    await link.ping(this.agentTimeoutMs);
  }

  /** From now on links end on purpose (the server stops): the instances run on. */
  close(): void {
    this.#closed = true;
  }

  /** A link to the instance's agent, made its current one and watched. */
  #newLink(instance: Instance, stream: Duplex): AgentLink {
    const link: AgentLink = new AgentLink(stream, {
      onFrame: instance.handleFrame,
      onFailure: (reason) => void this.#fail(instance, link, reason),
    });
    this.#watch(instance, link);
    instance.setLink(link);
    return link;
  }

  /**
   * The agent broke the protocol or wedged: the instance fails with the reason and its container
   * is killed, so nothing it runs goes on unseen. The server goes on.
   */
  async #fail(instance: Instance, link: AgentLink, reason: string): Promise<void> {
    if (instance.link !== link) return;
    this.#options.logger?.warn(`instance ${instance.id} failed: ${reason}`);
    instance.markFailed(reason);
    await killContainer(this.#options.docker, instance.containerId);
  }

  /** A link that ends on its own means the container stopped (OOM, killed, crashed). */
  #watch(instance: Instance, link: AgentLink): void {
    void link.ended.then(async () => {
      if (this.#closed || instance.link !== link || instance.state !== 'running') return;
      let running = false;
      try {
        running = (await this.#options.docker.getContainer(instance.containerId).inspect()).State.Running;
      } catch {
        // Gone: stopped.
      }
      if (instance.link !== link || this.#closed) return;
      if (running) {
        // Only the attach stream broke (an engine restart): join again.
        await this.link(instance).catch(() => instance.markStopped('stopped'));
      } else {
        instance.markStopped('stopped');
      }
    });
  }
}
