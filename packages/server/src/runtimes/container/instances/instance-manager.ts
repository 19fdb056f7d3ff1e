import {
  type DependencyCache,
  ErrorCode,
  FaasError,
  type InstanceSpec,
  newId,
  type SnapshotProcess,
} from '@faas/core';
import type Docker from 'dockerode';
import { removeContainer } from '../container-labels.ts';
import type { CacheMounts } from '../dependency-caches.ts';
import { engineStatus } from '../docker-engine.ts';
import type { EgressReady } from '../network/egress-network.ts';
import { Instance } from './instance.ts';
import { findInstances } from './instance-recovery.ts';
import { InstanceRestores, type RestoreOptions } from './instance-restores.ts';
import { InstanceRunner } from './instance-runner.ts';
import type { LoadCheckpoint } from './restore-standbys.ts';

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
  /** Mounts a project's dependency caches. */
  prepareCaches: (project: string, caches: DependencyCache[]) => Promise<CacheMounts>;
  /** The egress network for instances with network; refuses when it is not guarded. */
  egress: () => Promise<EgressReady>;
  /** How long a starting agent may take to answer. @default 15000 */
  agentTimeoutMs?: number;
  /** Paused restores kept ready for recently used memory snapshots; 0: none. @default 4 */
  restoreStandbys?: number;
  /** A snapshot's standby unused this long is removed. @default 300000 */
  standbyIdleMs?: number;
}

/**
 * Owns the instances of this server: creates them, stops idle ones, finds them again after a
 * restart, and checkpoints and restores them (gVisor, through InstanceRestores). Instance
 * containers outlive the server process on purpose: only DELETE or a stop ends them.
 */
export class InstanceManager {
  #options: InstanceManagerOptions;
  #instances = new Map<string, Instance>();
  #recovered: Promise<void> | undefined;
  #runner: InstanceRunner;
  #restores: InstanceRestores;

  constructor(options: InstanceManagerOptions) {
    this.#options = options;
    this.#runner = new InstanceRunner({
      docker: options.docker,
      ownerId: options.ownerId,
      agentDir: options.agentDir,
      busyboxPath: options.busyboxPath,
      ensureImage: options.ensureImage,
      prepareCaches: options.prepareCaches,
      egress: options.egress,
      ...(options.agentTimeoutMs !== undefined ? { agentTimeoutMs: options.agentTimeoutMs } : {}),
    });
    this.#restores = new InstanceRestores({
      runner: this.#runner,
      logger: options.logger,
      register: (instance) => this.#instances.set(instance.id, instance),
      unregister: (instance) => this.#instances.delete(instance.id),
      standbys: options.restoreStandbys ?? 4,
      standbyIdleMs: options.standbyIdleMs ?? 300_000,
    });
  }

  /** Creates and starts an instance; resolves once its agent answers. */
  async create(spec: InstanceSpec, id: string = newId('inst')): Promise<Instance> {
    await this.recover();
    const createdAt = Date.now();
    const container = await this.#runner.createContainer({ id, spec, createdAt });
    const instance = new Instance(id, spec, container.id, createdAt);
    this.#instances.set(id, instance);
    try {
      await this.#runner.run(instance);
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
    return this.#instances.size + this.#restores.count;
  }

  /** Stops the container: its processes end, its tmpfs folders are emptied; the instance stays. */
  async stop(id: string): Promise<Instance> {
    const instance = await this.get(id);
    if (instance.state === 'stopped') return instance;
    requireSettled(instance, 'stop');
    const before = instance.state;
    instance.state = 'stopping';
    try {
      await this.#options.docker.getContainer(instance.containerId).stop({ t: 1 });
    } catch (err) {
      const status = engineStatus(err);
      if (status !== 304 && status !== 404) {
        instance.state = before;
        throw engineFailure(`Stopping ${id} failed`, err);
      }
    }
    instance.link?.close();
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
    await this.#runner.run(instance);
    if (instance.spec.command) instance.mainProcess = instance.start(instance.spec.command).process;
    return instance;
  }

  /** Removes the container; the instance is gone once that worked. */
  async delete(id: string): Promise<void> {
    const instance = await this.get(id);
    requireSettled(instance, 'delete');
    try {
      await removeContainer(this.#options.docker, instance.containerId);
    } catch (err) {
      throw engineFailure(`Removing ${id} failed`, err);
    }
    this.#instances.delete(id);
    instance.link?.close();
    instance.markStopped('deleted');
  }

  /** Stops running instances unused for their idle TTL (watched ones are in use); expires standbys. */
  async sweepIdle(now = Date.now()): Promise<void> {
    await this.#restores.expire(now);
    for (const instance of this.#instances.values()) {
      const { idleTtlMs } = instance.spec;
      if (instance.state !== 'running' || idleTtlMs <= 0 || instance.events.watchers > 0) continue;
      if (instance.lastActiveAt + idleTtlMs > now) continue;
      await this.stop(instance.id).catch((err) =>
        this.#options.logger.warn(`stopping idle ${instance.id} failed`, err),
      );
    }
  }

  /** A gVisor checkpoint of a running instance, which goes on (see InstanceRestores.checkpoint). */
  async checkpoint(id: string): Promise<{ tar: Buffer; processes: SnapshotProcess[] }> {
    const instance = await this.get(id);
    if (instance.spec.isolation !== 'gvisor') {
      throw new FaasError(ErrorCode.BAD_REQUEST, 'Memory checkpoints need isolation "gvisor"');
    }
    if (instance.state !== 'running') {
      throw new FaasError(ErrorCode.CONFLICT, `Instance ${id} is ${instance.state}, not running`);
    }
    return this.#restores.checkpoint(instance);
  }

  /** New instances from a checkpoint tar, all or none (see InstanceRestores.restore). */
  async restore(
    spec: InstanceSpec,
    checkpoint: Uint8Array,
    options: RestoreOptions = {},
  ): Promise<Instance[]> {
    await this.recover();
    return this.#restores.restore(spec, checkpoint, options);
  }

  /** Has standbys of the snapshot restored ahead of its first restore or fork. */
  prepareRestore(snapshotId: string, spec: InstanceSpec, load: LoadCheckpoint): void {
    this.#restores.prepare(snapshotId, spec, load);
  }

  /** The snapshot was deleted: its standbys go. */
  forgetSnapshot(snapshotId: string): Promise<void> {
    return this.#restores.forget(snapshotId);
  }

  /** Resolves when no standby is being restored or removed (for leak checks). */
  settled(): Promise<void> {
    return this.#restores.settled();
  }

  /**
   * Once per process: finds the instances a previous server run left (their labels hold their
   * spec), links to the running ones and lists stopped ones as stopped.
   */
  recover(): Promise<void> {
    this.#recovered ??= (async () => {
      await this.#options.ready();
      const { docker, ownerId } = this.#options;
      for (const found of await findInstances(docker, ownerId)) {
        const { identity, containerId } = found;
        if (this.#instances.has(identity.id)) continue;
        const instance = new Instance(identity.id, identity.spec, containerId, identity.createdAt);
        this.#instances.set(identity.id, instance);
        if (!found.running) {
          instance.state = 'stopped';
          continue;
        }
        try {
          await this.#runner.link(instance);
        } catch (err) {
          this.#options.logger.warn(`instance ${identity.id} does not answer; stopping it`, err);
          await docker
            .getContainer(containerId)
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
    this.#runner.close();
    await this.#restores.close();
    for (const instance of this.#instances.values()) instance.link?.close();
  }
}

/** Stop and delete wait for a checkpoint or a start to finish: both move the instance's container. */
function requireSettled(instance: Instance, action: string): void {
  if (instance.state === 'checkpointing' || instance.state === 'starting') {
    throw new FaasError(
      ErrorCode.CONFLICT,
      `Instance ${instance.id} is ${instance.state}: ${action} it once that is done`,
      { details: { state: instance.state } },
    );
  }
}

function engineFailure(what: string, err: unknown): FaasError {
  return new FaasError(ErrorCode.RUNTIME_UNAVAILABLE, `${what}: ${(err as Error).message}`, { cause: err });
}
