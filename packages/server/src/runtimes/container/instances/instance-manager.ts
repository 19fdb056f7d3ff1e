import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, FaasError, type InstanceSpec, newId } from '@faas/core';
import type Docker from 'dockerode';
import { listOwnedContainers, ROLE_LABEL, removeContainer } from '../container-labels.ts';
import { engineStatus } from '../docker-engine.ts';
import { sandboxAgentBinary } from './agent-binary.ts';
import { AgentLink } from './agent-link.ts';
import { createCheckpoint, deleteCheckpoint, startFromCheckpoint } from './engine-checkpoints.ts';
import { tarFolder, untarInto } from './folder-tar.ts';
import { Instance } from './instance.ts';
import {
  attachAgent,
  createInstanceContainer,
  INSTANCE_ROLE,
  type InstanceIdentity,
  identityFromLabels,
} from './instance-container.ts';

type Logger = Pick<Console, 'error' | 'warn' | 'info'>;

export interface InstanceManagerOptions {
  docker: Docker;
  ownerId: string;
  /** Where the sandbox agent binary is built. */
  agentDir: string;
  busyboxPath: string;
  logger: Logger;
  /** Resolves when the engine answers and the runtime's start-up (orphan removal) is done. */
  ready: () => Promise<void>;
  /** Makes sure the image is in the engine where the runtime can build it (the default image). */
  ensureImage: (image: string) => Promise<void>;
  /** How long a starting agent may take to answer. @default 15000 */
  agentTimeoutMs?: number;
}

const READY_TIMEOUT_MS = 15_000;

/**
 * Owns the instances of this server: creates their containers, links to their agents, stops
 * idle ones, finds them again after a restart, and checkpoints and restores them (gVisor).
 * Instance containers outlive the server process on purpose: only DELETE or a stop ends them.
 */
export class InstanceManager {
  #options: InstanceManagerOptions;
  #instances = new Map<string, Instance>();
  #agentPath: Promise<string> | undefined;
  #dockerRoot: Promise<string> | undefined;
  #recovered: Promise<void> | undefined;

  constructor(options: InstanceManagerOptions) {
    this.#options = options;
  }

  /** Creates and starts an instance; resolves once its agent answers. */
  async create(spec: InstanceSpec, id: string = newId('inst')): Promise<Instance> {
    await this.recover();
    const identity: InstanceIdentity = { id, spec, createdAt: Date.now() };
    const container = await this.#createContainer(identity);
    const instance = new Instance(id, spec, container.id, identity.createdAt);
    this.#instances.set(id, instance);
    try {
      await this.#run(instance);
    } catch (err) {
      this.#instances.delete(id);
      await removeContainer(this.#options.docker, container.id).catch(() => {});
      throw err;
    }
    if (spec.command) instance.mainProcess = instance.start(spec.command).process;
    return instance;
  }

  /** @throws FaasError NOT_FOUND */
  async get(id: string): Promise<Instance> {
    await this.recover();
    const instance = this.#instances.get(id);
    if (!instance) throw new FaasError(ErrorCode.NOT_FOUND, `No instance "${id}"`);
    return instance;
  }

  async list(): Promise<Instance[]> {
    await this.recover();
    return [...this.#instances.values()].sort((a, b) => b.createdAt - a.createdAt);
  }

  get count(): number {
    return this.#instances.size;
  }

  /** Stops the container: its processes end, its tmpfs folders are emptied; the instance stays. */
  async stop(id: string): Promise<Instance> {
    const instance = await this.get(id);
    if (instance.state === 'stopped') return instance;
    instance.state = 'stopping';
    instance.link?.close();
    try {
      await this.#options.docker.getContainer(instance.containerId).stop({ t: 1 });
    } catch (err) {
      const status = engineStatus(err);
      if (status !== 304 && status !== 404) throw err;
    }
    instance.markStopped('stopped');
    return instance;
  }

  /** Starts a stopped instance again: fresh processes (the main command reruns), empty folders. */
  async start(id: string): Promise<Instance> {
    const instance = await this.get(id);
    if (instance.state === 'running') return instance;
    if (instance.state !== 'stopped') {
      throw new FaasError(ErrorCode.CONFLICT, `Instance ${id} is ${instance.state}`);
    }
    await this.#run(instance);
    if (instance.spec.command) instance.mainProcess = instance.start(instance.spec.command).process;
    return instance;
  }

  /** Removes the container; idempotent for an instance that is already gone. */
  async delete(id: string): Promise<void> {
    const instance = await this.get(id);
    this.#instances.delete(id);
    instance.state = 'deleted';
    instance.link?.close();
    await removeContainer(this.#options.docker, instance.containerId);
    instance.markStopped('deleted');
  }

  /** Stops running instances unused for their idle TTL; watched instances are in use. */
  async sweepIdle(now = Date.now()): Promise<void> {
    for (const instance of this.#instances.values()) {
      const { idleTtlMs } = instance.spec;
      if (instance.state !== 'running' || idleTtlMs <= 0 || instance.events.watchers > 0) continue;
      if (instance.lastActiveAt + idleTtlMs > now) continue;
      await this.stop(instance.id).catch((err) =>
        this.#options.logger.warn(`stopping idle ${instance.id} failed`, err),
      );
    }
  }

  /**
   * A gVisor checkpoint of a running instance (memory, processes, tmpfs files) as a tar. The
   * engine can only checkpoint by stopping the container (runsc fails `--leave-running`), and
   * runsc restores a container in place only once ("id already in use" the second time), so the
   * instance goes on in a new container restored from the checkpoint; the old one is removed.
   */
  async checkpoint(id: string): Promise<Buffer> {
    const instance = await this.get(id);
    if (instance.spec.isolation !== 'gvisor') {
      throw new FaasError(ErrorCode.BAD_REQUEST, 'Memory checkpoints need isolation "gvisor"');
    }
    if (instance.state !== 'running') {
      throw new FaasError(ErrorCode.CONFLICT, `Instance ${id} is ${instance.state}, not running`);
    }
    const previous = instance.containerId;
    const name = `faas-${randomBytes(6).toString('hex')}`;
    instance.state = 'checkpointing';
    let tar: Buffer;
    try {
      await createCheckpoint(this.#options.docker, previous, name);
      tar = await tarFolder(await this.#checkpointDir(previous, name));
    } catch (err) {
      // The instance must not stay half-stopped.
      await this.#recoverAfterFailedCheckpoint(instance);
      throw new FaasError(
        ErrorCode.RUNTIME_UNAVAILABLE,
        `Checkpointing ${id} failed: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    try {
      await this.#restoreInto(instance, tar);
    } catch (err) {
      instance.containerId = previous;
      instance.markStopped('stopped');
      throw err;
    }
    await removeContainer(this.#options.docker, previous).catch(() => {});
    return tar;
  }

  /** A new instance from a checkpoint tar: its processes continue where they were. */
  async restore(spec: InstanceSpec, checkpoint: Uint8Array, id: string = newId('inst')): Promise<Instance> {
    await this.recover();
    const instance = new Instance(id, spec, '', Date.now());
    this.#instances.set(id, instance);
    try {
      await this.#restoreInto(instance, checkpoint);
    } catch (err) {
      this.#instances.delete(id);
      throw err;
    }
    return instance;
  }

  /** Runs the instance in a new container restored from the checkpoint. */
  async #restoreInto(instance: Instance, checkpoint: Uint8Array): Promise<void> {
    const container = await this.#createContainer({
      id: instance.id,
      spec: instance.spec,
      createdAt: instance.createdAt,
    });
    const name = 'faas-restore';
    try {
      const dir = await this.#checkpointDir(container.id, name, false);
      await untarInto(checkpoint, dir);
      // The engine uploads the checkpoint to containerd's content store by its hash, and two
      // restores of the same bytes at once collide there ("already exists"): make each unique.
      await writeFile(join(dir, 'faas-restore-id'), container.id);
      instance.containerId = container.id;
      await this.#run(instance, name);
    } catch (err) {
      await removeContainer(this.#options.docker, container.id).catch(() => {});
      throw new FaasError(
        ErrorCode.RUNTIME_UNAVAILABLE,
        `Restoring the checkpoint failed: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    } finally {
      await deleteCheckpoint(this.#options.docker, container.id, name).catch(() => {});
    }
  }

  /**
   * Once per process: finds the instances a previous server run left (their labels hold their
   * spec), links to the running ones and lists stopped ones as stopped.
   */
  recover(): Promise<void> {
    this.#recovered ??= (async () => {
      await this.#options.ready();
      const { docker, ownerId } = this.#options;
      const containers = await docker.listContainers({
        all: true,
        filters: JSON.stringify({ label: [`${ROLE_LABEL}=${INSTANCE_ROLE}`, `faas.owner=${ownerId}`] }),
      });
      for (const info of containers) {
        const identity = identityFromLabels(info.Labels ?? {});
        if (!identity || this.#instances.has(identity.id)) continue;
        const instance = new Instance(identity.id, identity.spec, info.Id, identity.createdAt);
        this.#instances.set(identity.id, instance);
        if (info.State !== 'running') {
          instance.state = 'stopped';
          continue;
        }
        try {
          await this.#link(instance, true);
          instance.state = 'running';
        } catch (err) {
          this.#options.logger.warn(`instance ${identity.id} does not answer; stopping it`, err);
          await docker
            .getContainer(info.Id)
            .stop({ t: 1 })
            .catch(() => {});
          instance.state = 'stopped';
        }
      }
    })();
    this.#recovered.catch(() => {
      this.#recovered = undefined;
    });
    return this.#recovered;
  }

  /** Drops the links; the containers keep running for the next server run to find. */
  close(): void {
    for (const instance of this.#instances.values()) instance.link?.close();
  }

  /** Ids of this owner's instance containers in the engine (for leak checks). */
  async containerIds(): Promise<string[]> {
    const ids = await listOwnedContainers(this.#options.docker, this.#options.ownerId);
    const known = new Set([...this.#instances.values()].map((i) => i.containerId));
    return ids.filter((id) => known.has(id));
  }

  async #createContainer(identity: InstanceIdentity): Promise<Docker.Container> {
    this.#agentPath ??= sandboxAgentBinary(this.#options.agentDir);
    this.#agentPath.catch(() => {
      this.#agentPath = undefined;
    });
    const agentPath = await this.#agentPath;
    await this.#options.ensureImage(identity.spec.image);
    try {
      return await createInstanceContainer(
        {
          docker: this.#options.docker,
          ownerId: this.#options.ownerId,
          agentPath,
          busyboxPath: this.#options.busyboxPath,
        },
        identity,
      );
    } catch (err) {
      if (engineStatus(err) === 404) {
        throw new FaasError(
          ErrorCode.BAD_REQUEST,
          `Image "${identity.spec.image}" is not in the local engine; no registry is reachable, so build or load it first`,
          { cause: err },
        );
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
  async #run(instance: Instance, checkpoint?: string): Promise<void> {
    const container = this.#options.docker.getContainer(instance.containerId);
    instance.state = 'starting';
    const link = new AgentLink(await attachAgent(container), instance.handleFrame);
    this.#watchLink(instance, link);
    instance.setLink(link);
    try {
      if (checkpoint) await startFromCheckpoint(this.#options.docker, instance.containerId, checkpoint);
      else await container.start();
      await link.ping(this.#options.agentTimeoutMs ?? READY_TIMEOUT_MS, checkpoint !== undefined);
    } catch (err) {
      link.close();
      throw err;
    }
    instance.state = 'running';
    instance.touch();
    instance.publishState();
  }

  /** Links to a running container's agent (after a server restart). */
  async #link(instance: Instance, resync: boolean): Promise<void> {
    const container = this.#options.docker.getContainer(instance.containerId);
    const link = new AgentLink(await attachAgent(container), instance.handleFrame);
    this.#watchLink(instance, link);
    instance.setLink(link);
    instance.state = 'running';
    await link.ping(this.#options.agentTimeoutMs ?? READY_TIMEOUT_MS, resync);
  }

  /** A link that ends on its own means the container stopped (OOM, killed, crashed). */
  #watchLink(instance: Instance, link: AgentLink): void {
    void link.ended.then(async () => {
      if (instance.link !== link || instance.state !== 'running') return;
      let running = false;
      try {
        running = (await this.#options.docker.getContainer(instance.containerId).inspect()).State.Running;
      } catch {
        // Gone: stopped.
      }
      if (instance.link !== link) return;
      if (running) {
        // Only the attach stream broke (an engine restart): join again.
        await this.#link(instance, true).catch(() => instance.markStopped('stopped'));
      } else {
        instance.markStopped('stopped');
      }
    });
  }

  async #recoverAfterFailedCheckpoint(instance: Instance): Promise<void> {
    try {
      const state = (await this.#options.docker.getContainer(instance.containerId).inspect()).State;
      if (state.Paused) await this.#options.docker.getContainer(instance.containerId).unpause();
      if (state.Running) {
        instance.state = 'running';
        return;
      }
    } catch {
      // Fall through: stopped.
    }
    instance.markStopped('stopped');
  }

  /**
   * Where the engine keeps a container's checkpoint. Docker's API can create checkpoints but not
   * upload them, and this engine refuses custom checkpoint folders on start, so snapshots read
   * and write the engine's own folder: the server must run beside the engine, as root.
   */
  async #checkpointDir(containerId: string, name: string, mustExist = true): Promise<string> {
    this.#dockerRoot ??= this.#options.docker
      .info()
      .then((info: { DockerRootDir: string }) => info.DockerRootDir);
    const dir = join(await this.#dockerRoot, 'containers', containerId, 'checkpoints', name);
    if (mustExist && !existsSync(dir)) {
      throw new FaasError(
        ErrorCode.RUNTIME_UNAVAILABLE,
        `The engine's checkpoint folder ${dir} is not readable here: snapshots need the server on the engine's host, as root`,
      );
    }
    if (!mustExist) await rm(dir, { recursive: true, force: true });
    return dir;
  }
}
