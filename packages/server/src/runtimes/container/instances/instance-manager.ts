import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type DependencyCache, ErrorCode, FaasError, type InstanceSpec, newId } from '@faas/core';
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
import { RestoreStandbys } from './restore-standbys.ts';

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
  /** Makes the shared dependency caches' volumes. */
  prepareCaches: (caches: DependencyCache[]) => Promise<void>;
  /** How long a starting agent may take to answer. @default 15000 */
  agentTimeoutMs?: number;
  /** Paused restores kept ready for recently used memory snapshots; 0: none. @default 4 */
  restoreStandbys?: number;
  /** A snapshot's standby unused this long is removed. @default 300000 */
  standbyIdleMs?: number;
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
  #standbys: RestoreStandbys;

  constructor(options: InstanceManagerOptions) {
    this.#options = options;
    this.#standbys = new RestoreStandbys({
      capacity: options.restoreStandbys ?? 4,
      idleMs: options.standbyIdleMs ?? 300_000,
      restorePaused: (spec, checkpoint) => this.#restorePaused(spec, checkpoint),
      remove: (standby) => removePaused(this.#options.docker, standby.containerId),
      onError: (message, err) => this.#options.logger.warn(message, err),
    });
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

  /** Containers held: instances and standbys. */
  get count(): number {
    return this.#instances.size + this.#standbys.count;
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

  /** Stops running instances unused for their idle TTL (watched ones are in use); expires standbys. */
  async sweepIdle(now = Date.now()): Promise<void> {
    await this.#standbys.expire(now);
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

  /**
   * `count` new instances from one checkpoint tar, all or none: their processes continue where
   * they were, independently. With the snapshot's id, ready standbys of it are taken first, and
   * one is made again once the rest are restored (not beside them: they share the cores).
   */
  async restore(
    spec: InstanceSpec,
    checkpoint: Uint8Array,
    options: { snapshotId?: string; count?: number } = {},
  ): Promise<Instance[]> {
    await this.recover();
    const { snapshotId, count = 1 } = options;
    try {
      const { ready, pending } = snapshotId ? this.#standbys.take(snapshotId, count) : { ready: [] };
      const direct = count - ready.length - (pending ? 1 : 0);
      const results = await Promise.allSettled([
        ...ready.map((standby) => this.#wakeOrRestore(standby, spec, checkpoint)),
        ...(pending ? [pending.then((standby) => this.#wakeOrRestore(standby, spec, checkpoint))] : []),
        ...Array.from({ length: direct }, () => this.#restoreNew(spec, checkpoint)),
      ]);
      const restored = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) {
        await Promise.all(restored.map((instance) => this.delete(instance.id).catch(() => {})));
        throw failed.reason;
      }
      return restored;
    } finally {
      if (snapshotId) this.#standbys.fill(snapshotId, spec, checkpoint, count);
    }
  }

  /** The standby, awake; a direct restore when there is none or it does not wake. */
  async #wakeOrRestore(
    standby: Instance | undefined,
    spec: InstanceSpec,
    checkpoint: Uint8Array,
  ): Promise<Instance> {
    if (standby && (await this.#wake(standby))) return standby;
    return this.#restoreNew(spec, checkpoint);
  }

  async #restoreNew(spec: InstanceSpec, checkpoint: Uint8Array): Promise<Instance> {
    const instance = new Instance(newId('inst'), spec, '', Date.now());
    this.#instances.set(instance.id, instance);
    try {
      await this.#restoreInto(instance, checkpoint);
    } catch (err) {
      this.#instances.delete(instance.id);
      throw err;
    }
    return instance;
  }

  /** Has standbys of the snapshot restored ahead of its first restore or fork. */
  prepareRestore(snapshotId: string, spec: InstanceSpec, checkpoint: Uint8Array): void {
    // Two: a fork of a few then restores only the rest (each direct restore costs ~250 ms of CPU).
    this.#standbys.fill(snapshotId, spec, checkpoint, 2);
  }

  /** The snapshot was deleted: its standbys go. */
  forgetSnapshot(snapshotId: string): Promise<void> {
    return this.#standbys.drop(snapshotId);
  }

  /** Resolves when no standby is being restored (for leak checks). */
  settled(): Promise<void> {
    return this.#standbys.settled();
  }

  /** A standby restored and paused, not listed as an instance until taken. */
  async #restorePaused(spec: InstanceSpec, checkpoint: Uint8Array): Promise<Instance> {
    const standby = new Instance(newId('inst'), spec, '', Date.now());
    await this.#restoreInto(standby, checkpoint);
    try {
      await this.#options.docker.getContainer(standby.containerId).pause();
    } catch (err) {
      standby.link?.close();
      await removePaused(this.#options.docker, standby.containerId).catch(() => {});
      throw err;
    }
    return standby;
  }

  /** Unpauses a taken standby and makes it an instance; false (and removed) when it is broken. */
  async #wake(standby: Instance): Promise<boolean> {
    try {
      await this.#options.docker.getContainer(standby.containerId).unpause();
      await standby.link?.ping(this.#options.agentTimeoutMs ?? READY_TIMEOUT_MS, false);
    } catch (err) {
      this.#options.logger.warn(`standby ${standby.id} did not wake; restoring directly`, err);
      standby.link?.close();
      await removePaused(this.#options.docker, standby.containerId).catch(() => {});
      return false;
    }
    standby.createdAt = Date.now();
    standby.touch();
    this.#instances.set(standby.id, standby);
    return true;
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
        if (info.State === 'paused') {
          // A standby of the previous run: nobody took it.
          await removePaused(docker, info.Id).catch(() => {});
          continue;
        }
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

  /** Removes the standbys and drops the links; instances keep running for the next server run. */
  async close(): Promise<void> {
    await this.#standbys.close();
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
    if (identity.spec.dependencyCaches?.length)
      await this.#options.prepareCaches(identity.spec.dependencyCaches);
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

/** The engine cannot kill the processes of a paused container: it is unpaused first. */
async function removePaused(docker: Docker, containerId: string): Promise<void> {
  await docker
    .getContainer(containerId)
    .unpause()
    .catch(() => {});
  await removeContainer(docker, containerId);
}
