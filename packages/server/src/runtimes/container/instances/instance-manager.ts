import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import {
  type DependencyCache,
  ErrorCode,
  FaasError,
  type InstanceSpec,
  isFaasError,
  newId,
  type SnapshotProcess,
} from '@faas/core';
import type Docker from 'dockerode';
import { removeContainer } from '../container-labels.ts';
import type { ContainerTally } from '../container-roles.ts';
import type { CacheMounts } from '../dependency-caches.ts';
import { engineStatus } from '../docker-engine.ts';
import type { EgressReady } from '../network/egress-network.ts';
import { Instance } from './instance.ts';
import { type InstanceCountLimits, InstanceQuota } from './instance-quota.ts';
import { findInstances, killContainer } from './instance-recovery.ts';
import { InstanceRestores, type RestoreOptions, type RestoresServed } from './instance-restores.ts';
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
  /** Where checkpoints read from the blob store are unpacked before their restores. */
  stagingDir: string;
  /** Bounds on live instances. @default 64 in all, 16 per owner */
  limits?: InstanceCountLimits;
}

export interface CreateOptions {
  /** The API key the instance belongs to (for the per-key bound). */
  owner?: string;
  /** Runs once the agent answers and before the spec's command starts (files it needs). */
  beforeMain?: (instance: Instance) => Promise<void>;
}

/** The waits before each new try of a failed `discard`. */
const DISCARD_RETRY_MS = [1_000, 5_000, 30_000];

/**
 * Owns the instances of this server: creates them, stops idle ones, finds them again after a
 * restart, and checkpoints and restores them (gVisor, through InstanceRestores). Instance
 * containers outlive the server process on purpose: only DELETE or a stop ends them.
 */
export class InstanceManager {
  #options: InstanceManagerOptions;
  #instances = new Map<string, Instance>();
  #recovered: Promise<void> | undefined;
  #onLiveChange: ((instance: Instance) => void) | undefined;
  #runner: InstanceRunner;
  #restores: InstanceRestores;
  #quota: InstanceQuota;

  constructor(options: InstanceManagerOptions) {
    this.#options = options;
    this.#quota = new InstanceQuota(options.limits ?? { maxLive: 64, maxLivePerOwner: 16 }, () =>
      this.#instances.values(),
    );
    this.#runner = new InstanceRunner({
      docker: options.docker,
      ownerId: options.ownerId,
      agentDir: options.agentDir,
      busyboxPath: options.busyboxPath,
      ensureImage: options.ensureImage,
      prepareCaches: options.prepareCaches,
      logger: options.logger,
      egress: options.egress,
      ...(options.agentTimeoutMs !== undefined ? { agentTimeoutMs: options.agentTimeoutMs } : {}),
    });
    this.#restores = new InstanceRestores({
      runner: this.#runner,
      logger: options.logger,
      register: (instance) => this.#hold(instance),
      unregister: (instance) => this.#instances.delete(instance.id),
      standbys: options.restoreStandbys ?? 4,
      standbyIdleMs: options.standbyIdleMs ?? 300_000,
      stagingDir: options.stagingDir,
    });
  }

  /**
   * Creates and starts an instance; resolves once its agent answers (and `beforeMain` ran, and
   * the spec's command started).
   * @throws FaasError INSTANCE_LIMIT past a bound on live instances
   */
  async create(
    spec: InstanceSpec,
    options: CreateOptions = {},
    id: string = newId('inst'),
  ): Promise<Instance> {
    await this.recover();
    const reservation = this.#quota.reserve(options.owner, 1);
    try {
      const createdAt = Date.now();
      const container = await this.#runner.createContainer({
        id,
        spec,
        createdAt,
        ...(options.owner ? { owner: options.owner } : {}),
      });
      const instance = new Instance(id, spec, container.id, createdAt, options.owner);
      this.#hold(instance);
      reservation.take();
      try {
        await this.#runner.run(instance);
        await options.beforeMain?.(instance);
      } catch (err) {
        this.#instances.delete(id);
        instance.link?.close();
        await removeContainer(this.#options.docker, container.id).catch(() => {});
        throw err instanceof FaasError ? err : engineFailure(`Starting ${id} failed`, err);
      }
      if (spec.command) instance.mainProcess = instance.start(spec.command).process;
      return instance;
    } finally {
      reservation.release();
    }
  }

  /** `listener` hears each instance held here come to hold a running container or stop holding one. */
  onLiveChange(listener: (instance: Instance) => void): void {
    this.#onLiveChange = listener;
    for (const instance of this.#instances.values()) instance.onLiveChange = listener;
  }

  #hold(instance: Instance): void {
    instance.onLiveChange = this.#onLiveChange;
    this.#instances.set(instance.id, instance);
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

  /** Counts its instances' containers (`instance`) and the restore standbys (`standby`). */
  countContainers(tally: ContainerTally): void {
    for (const instance of this.#instances.values()) tally.add(instance.spec.isolation, 'instance');
    this.#restores.countContainers(tally);
  }

  /** What a worker's heartbeat tells of its sandboxes: instances held, restore standbys ready. */
  heartbeatView(): { instances: number; standbys: Record<string, number> } {
    return { instances: this.#instances.size, standbys: this.#restores.standbysReady() };
  }

  /** Restores served since start, from a standby or cold (`faas_instance_restores_total`). */
  get restoresServed(): Readonly<RestoresServed> {
    return this.#restores.served;
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
    if (instance.state !== 'stopped' && instance.state !== 'failed') {
      throw new FaasError(ErrorCode.CONFLICT, `Instance ${id} is ${instance.state}`);
    }
    // Counted as live from here on: the room is not held past this synchronous step.
    this.#quota.reserve(instance.owner, 1).release();
    instance.state = 'starting';
    try {
      await this.#runner.run(instance);
    } catch (err) {
      // Not left `starting` (every later stop, start and delete would be refused, and it would
      // count as live): whatever the container got to run is killed, and the instance is failed,
      // to be started again or deleted.
      instance.link?.close();
      await killContainer(this.#options.docker, instance.containerId);
      instance.markFailed(`starting it failed: ${(err as Error).message}`);
      throw err instanceof FaasError ? err : engineFailure(`Starting ${id} failed`, err);
    }
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

  /**
   * Removes an instance nobody else holds (an execute's own, once its run is answered). A removal
   * the engine fails is tried again in the background, so the instance does not stay running
   * until its idle TTL, counted against the bounds, for a run long over.
   */
  async discard(id: string, attempt = 0): Promise<void> {
    try {
      await this.delete(id);
    } catch (err) {
      if (isFaasError(err) && err.code === ErrorCode.NOT_FOUND) return;
      const delayMs = DISCARD_RETRY_MS[attempt];
      if (delayMs === undefined) {
        this.#options.logger.error(`removing ${id} failed for good; it stops at its idle TTL`, err);
        return;
      }
      this.#options.logger.warn(`removing ${id} failed; trying again in ${delayMs} ms`, err);
      setTimeout(() => void this.discard(id, attempt + 1), delayMs).unref();
    }
  }

  /** Stops running instances unused for their idle TTL (watched ones are in use); expires standbys. */
  async sweepIdle(now = Date.now()): Promise<void> {
    await this.#restores.expire(now);
    for (const instance of this.#instances.values()) {
      const { idleTtlMs } = instance.spec;
      if (instance.state !== 'running' || idleTtlMs <= 0 || instance.events.watchers > 0 || instance.busy)
        continue;
      if (instance.lastActiveAt + idleTtlMs > now) continue;
      await this.stop(instance.id).catch((err) =>
        this.#options.logger.warn(`stopping idle ${instance.id} failed`, err),
      );
    }
  }

  /**
   * A gVisor checkpoint of a running instance, which goes on, streamed to `save` (see
   * InstanceRestores.checkpoint).
   */
  async checkpoint<T>(
    id: string,
    save: (tar: Readable) => Promise<T>,
  ): Promise<{ saved: T; processes: SnapshotProcess[] }> {
    const instance = await this.get(id);
    if (instance.spec.isolation !== 'gvisor') {
      throw new FaasError(ErrorCode.BAD_REQUEST, 'Memory checkpoints need isolation "gvisor"');
    }
    if (instance.state !== 'running') {
      throw new FaasError(ErrorCode.CONFLICT, `Instance ${id} is ${instance.state}, not running`);
    }
    return this.#restores.checkpoint(instance, save);
  }

  /**
   * New instances from a checkpoint tar stream, all or none (see InstanceRestores.restore).
   * @throws FaasError INSTANCE_LIMIT past a bound on live instances
   */
  async restore(
    spec: InstanceSpec,
    load: LoadCheckpoint,
    options: Omit<RestoreOptions, 'onListed'> = {},
  ): Promise<Instance[]> {
    await this.recover();
    const reservation = this.#quota.reserve(options.owner, options.count ?? 1);
    try {
      return await this.#restores.restore(spec, load, { ...options, onListed: () => reservation.take() });
    } finally {
      reservation.release();
    }
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
      // Checkpoints a crashed run was unpacking: every restore of this run waits for this.
      await rm(this.#options.stagingDir, { recursive: true, force: true });
      const { docker, ownerId } = this.#options;
      const joins: Array<Promise<void>> = [];
      for (const found of await findInstances(docker, ownerId)) {
        const { identity, containerId } = found;
        if (this.#instances.has(identity.id)) continue;
        const instance = new Instance(
          identity.id,
          identity.spec,
          containerId,
          identity.createdAt,
          identity.owner,
        );
        this.#hold(instance);
        if (!found.running) {
          instance.state = 'stopped';
          continue;
        }
        // All at once: a silent agent costs the whole start one agent timeout, not one each.
        joins.push(this.#join(instance));
      }
      await Promise.all(joins);
    })();
    this.#recovered.catch(() => {
      this.#recovered = undefined;
    });
    return this.#recovered;
  }

  /** Links to a running instance a previous run left; one that does not answer is stopped. */
  async #join(instance: Instance): Promise<void> {
    try {
      await this.#options.docker
        .getContainer(instance.containerId)
        .unpause()
        .catch(() => {});
      await this.#runner.link(instance);
    } catch (err) {
      // A failed link has killed the container and says why; a silent agent is stopped.
      if (instance.state === 'failed') return;
      this.#options.logger.warn(`instance ${instance.id} does not answer; stopping it`, err);
      // Killed, not stopped: a frozen (paused) container cannot be stopped.
      await killContainer(this.#options.docker, instance.containerId);
      instance.link?.close();
      instance.markStopped('stopped');
    }
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
