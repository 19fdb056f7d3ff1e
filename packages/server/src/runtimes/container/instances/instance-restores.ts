import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { ErrorCode, FaasError, type InstanceSpec, newId, type SnapshotProcess } from '@faas/core';
import { removeContainer } from '../container-labels.ts';
import type { ContainerTally } from '../container-roles.ts';
import { checkpointDir, createCheckpoint, deleteCheckpoint } from './engine-checkpoints.ts';
import { linkFolder, tarFolderStream, untarStream } from './folder-tar.ts';
import { Instance } from './instance.ts';
import { instanceContainerName } from './instance-container.ts';
import { removePaused } from './instance-recovery.ts';
import type { InstanceRunner } from './instance-runner.ts';
import { type LoadCheckpoint, RestoreStandbys } from './restore-standbys.ts';

type Logger = Pick<Console, 'warn'>;

export interface InstanceRestoresOptions {
  runner: InstanceRunner;
  logger: Logger;
  /** Lists a restored instance as the manager's. */
  register: (instance: Instance) => void;
  /** Drops an instance whose restore failed from the manager's list. */
  unregister: (instance: Instance) => void;
  /** Paused restores kept ready for recently used memory snapshots; 0: none. */
  standbys: number;
  /** A snapshot's standby unused this long is removed. */
  standbyIdleMs: number;
  /** Where checkpoints read from the blob store are unpacked before their restores. */
  stagingDir: string;
}

/** Instances restored from snapshots, by where they came from. */
export interface RestoresServed {
  /** Woken from a paused standby (tens of ms). */
  standby: number;
  /** Restored from the checkpoint when asked (about 250 ms of runsc's work each). */
  cold: number;
}

/** Restores of several at once: all or none, and this many with standbys. */
export interface RestoreOptions {
  /** @default 1 */
  count?: number;
  /** The API key the new instances belong to. */
  owner?: string;
  /** Called as each new instance is listed as the manager's. */
  onListed?: () => void;
  /** A snapshot worth keeping standbys for, and how to read its checkpoint again. */
  standbys?: { snapshotId: string; load: LoadCheckpoint };
}

/** Who a restore's instances are for, and how their listing is reported. */
interface Claim {
  owner: string | undefined;
  listed: () => void;
}

/**
 * gVisor checkpoints of instances and restores from them: new instances whose processes
 * continue where they were, taken from paused standbys when there are some (RestoreStandbys).
 */
export class InstanceRestores {
  #options: InstanceRestoresOptions;
  #standbys: RestoreStandbys;
  #served: RestoresServed = { standby: 0, cold: 0 };

  constructor(options: InstanceRestoresOptions) {
    this.#options = options;
    const { docker } = options.runner;
    this.#standbys = new RestoreStandbys({
      capacity: options.standbys,
      idleMs: options.standbyIdleMs,
      restorePaused: (spec, load) => this.#restorePaused(spec, load),
      remove: (standby) => removePaused(docker, standby.containerId),
      onError: (message, err) => options.logger.warn(message, err),
    });
  }

  /** Containers held by standbys (being made or ready). */
  get count(): number {
    return this.#standbys.count;
  }

  countContainers(tally: ContainerTally): void {
    this.#standbys.countContainers(tally);
  }

  /** Paused standbys ready now, per snapshot id. */
  standbysReady(): Record<string, number> {
    return this.#standbys.readyBySnapshot();
  }

  /** Instances restored since start: woken from a standby, or restored from the checkpoint then. */
  get served(): Readonly<RestoresServed> {
    return this.#served;
  }

  /**
   * A checkpoint of the running instance (memory, processes, tmpfs files), handed to `save` as a
   * tar stream. The engine can only checkpoint by stopping the container (runsc fails
   * `--leave-running`), and runsc restores a container in place only once ("id already in use"
   * the second time), so the instance goes on in a new container restored from the checkpoint
   * (its files linked, not read), and `save` streams the checkpoint from the old container's
   * folder meanwhile; then the old container is removed. `processes` are the ones frozen in it.
   */
  async checkpoint<T>(
    instance: Instance,
    save: (tar: Readable) => Promise<T>,
  ): Promise<{ saved: T; processes: SnapshotProcess[] }> {
    const { docker } = this.#options.runner;
    const previous = instance.containerId;
    const name = `faas-${randomBytes(6).toString('hex')}`;
    instance.state = 'checkpointing';
    let processes: SnapshotProcess[];
    let dir: string;
    try {
      await createCheckpoint(docker, previous, name);
      // The container has stopped: no frame changes the table any more.
      processes = instance.processTable();
      dir = await checkpointDir(docker, previous, name);
    } catch (err) {
      // The instance must not stay half-stopped.
      await this.#recoverAfterFailedCheckpoint(instance);
      throw new FaasError(
        ErrorCode.RUNTIME_UNAVAILABLE,
        `Checkpointing ${instance.id} failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
    try {
      try {
        await this.#restoreInto(instance, (into) => linkFolder(dir, into));
      } catch (err) {
        instance.containerId = previous;
        instance.markStopped('stopped');
        throw err;
      }
      return { saved: await save(tarFolderStream(dir)), processes };
    } finally {
      if (instance.containerId !== previous) {
        await removeContainer(docker, previous).catch((err) =>
          this.#options.logger.warn(
            `removing ${instance.id}'s container from before its checkpoint failed`,
            err,
          ),
        );
      }
    }
  }

  /**
   * `count` new instances from one checkpoint, all or none: their processes continue where they
   * were, independently. The checkpoint is read once (`load`, a tar stream) and unpacked to disk;
   * each restore links its files from there. With `standbys`, ready ones are taken first (and
   * the one being made), and as many are made again once the rest are restored (not beside
   * them: they share the cores).
   */
  async restore(spec: InstanceSpec, load: LoadCheckpoint, options: RestoreOptions = {}): Promise<Instance[]> {
    const { count = 1, standbys } = options;
    const claim: Claim = { owner: options.owner, listed: options.onListed ?? (() => {}) };
    let staged: Promise<string> | undefined;
    const stagedOnce = () => {
      staged ??= this.#stage(load);
      return staged;
    };
    try {
      const { ready, pending } = standbys ? this.#standbys.take(standbys.snapshotId, count) : { ready: [] };
      const direct = count - ready.length - (pending ? 1 : 0);
      const results = await Promise.allSettled([
        ...ready.map((standby) => this.#wakeOrRestore(standby, spec, stagedOnce, claim)),
        ...(pending
          ? [pending.then((standby) => this.#wakeOrRestore(standby, spec, stagedOnce, claim))]
          : []),
        ...Array.from({ length: direct }, () => this.#restoreNew(spec, stagedOnce, claim)),
      ]);
      const restored = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) {
        await Promise.all(restored.map((instance) => this.#discard(instance)));
        throw failed.reason;
      }
      return restored;
    } finally {
      if (staged) await staged.then((dir) => rm(dir, { recursive: true, force: true })).catch(() => {});
      if (standbys) this.#standbys.fill(standbys.snapshotId, spec, standbys.load, count);
    }
  }

  /** Has standbys of the snapshot restored ahead of its first restore or fork. */
  prepare(snapshotId: string, spec: InstanceSpec, load: LoadCheckpoint): void {
    // Two: a fork of a few then restores only the rest (each direct restore costs ~250 ms of CPU).
    this.#standbys.fill(snapshotId, spec, load, 2);
  }

  /** The snapshot was deleted: its standbys go, and none are made again. */
  forget(snapshotId: string): Promise<void> {
    return this.#standbys.drop(snapshotId);
  }

  expire(now: number): Promise<void> {
    return this.#standbys.expire(now);
  }

  settled(): Promise<void> {
    return this.#standbys.settled();
  }

  close(): Promise<void> {
    return this.#standbys.close();
  }

  /** The standby, awake; a direct restore when there is none or it does not wake. */
  async #wakeOrRestore(
    standby: Instance | undefined,
    spec: InstanceSpec,
    staged: () => Promise<string>,
    claim: Claim,
  ): Promise<Instance> {
    if (standby && (await this.#wake(standby, claim))) {
      this.#served.standby++;
      return standby;
    }
    return this.#restoreNew(spec, staged, claim);
  }

  async #restoreNew(spec: InstanceSpec, staged: () => Promise<string>, claim: Claim): Promise<Instance> {
    const instance = new Instance(newId('inst'), spec, '', Date.now(), claim.owner);
    this.#options.register(instance);
    claim.listed();
    try {
      const from = await staged();
      await this.#restoreInto(instance, (into) => linkFolder(from, into));
    } catch (err) {
      this.#options.unregister(instance);
      throw err;
    }
    this.#served.cold++;
    return instance;
  }

  /** Unpacks a checkpoint tar stream into a fresh staging folder. */
  async #stage(load: LoadCheckpoint): Promise<string> {
    const dir = join(this.#options.stagingDir, randomBytes(8).toString('hex'));
    await mkdir(this.#options.stagingDir, { recursive: true });
    try {
      await untarStream(await load(), dir);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw new FaasError(ErrorCode.INTERNAL, `Reading the checkpoint failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return dir;
  }

  /** A standby restored and paused, not listed as an instance until taken. */
  async #restorePaused(spec: InstanceSpec, load: LoadCheckpoint): Promise<Instance> {
    const { docker } = this.#options.runner;
    const standby = new Instance(newId('inst'), spec, '', Date.now());
    const staged = await this.#stage(load);
    try {
      await this.#restoreInto(standby, (into) => linkFolder(staged, into), 'standby');
    } finally {
      await rm(staged, { recursive: true, force: true });
    }
    try {
      await docker.getContainer(standby.containerId).pause();
    } catch (err) {
      standby.link?.close();
      await removePaused(docker, standby.containerId).catch(() => {});
      throw err;
    }
    return standby;
  }

  /** Unpauses a taken standby and makes it an instance; false (and removed) when it is broken. */
  async #wake(standby: Instance, claim: Claim): Promise<boolean> {
    const { docker, agentTimeoutMs } = this.#options.runner;
    try {
      const container = docker.getContainer(standby.containerId);
      await container.unpause();
      const { link } = standby;
      if (!link || standby.state !== 'running') throw new Error(`the standby is ${standby.state}`);
      await link.ping(agentTimeoutMs);
      // No longer a standby's name: a crashed server's successor keeps it as an instance.
      await container.rename({ name: instanceContainerName(standby.id) });
    } catch (err) {
      this.#options.logger.warn(`standby ${standby.id} did not wake; restoring directly`, err);
      standby.link?.close();
      await removePaused(docker, standby.containerId).catch(() => {});
      return false;
    }
    standby.createdAt = Date.now();
    // Its labels were set before anyone took it: after a restart it counts as ownerless.
    standby.owner = claim.owner;
    standby.touch();
    this.#options.register(standby);
    claim.listed();
    return true;
  }

  /** Runs the instance in a new container restored from the checkpoint `fill` writes. */
  async #restoreInto(
    instance: Instance,
    fill: (dir: string) => Promise<void>,
    role: 'instance' | 'standby' = 'instance',
  ): Promise<void> {
    const { runner } = this.#options;
    const container = await runner.createContainer(
      {
        id: instance.id,
        spec: instance.spec,
        createdAt: instance.createdAt,
        ...(instance.owner ? { owner: instance.owner } : {}),
      },
      role,
    );
    const name = 'faas-restore';
    try {
      const dir = await checkpointDir(runner.docker, container.id, name, { fresh: true });
      await fill(dir);
      // The engine uploads the checkpoint to containerd's content store by its hash, and two
      // restores of the same bytes at once collide there ("already exists"): make each unique.
      await writeFile(join(dir, 'faas-restore-id'), container.id);
      instance.containerId = container.id;
      await runner.run(instance, name);
    } catch (err) {
      await removeContainer(runner.docker, container.id).catch(() => {});
      throw new FaasError(
        ErrorCode.RUNTIME_UNAVAILABLE,
        `Restoring the checkpoint failed: ${(err as Error).message}`,
        { cause: err },
      );
    } finally {
      await deleteCheckpoint(runner.docker, container.id, name).catch(() => {});
    }
  }

  /** One of an all-or-none restore that has to go again. */
  async #discard(instance: Instance): Promise<void> {
    this.#options.unregister(instance);
    instance.link?.close();
    await removeContainer(this.#options.runner.docker, instance.containerId).catch(() => {});
    instance.markStopped('deleted');
  }

  async #recoverAfterFailedCheckpoint(instance: Instance): Promise<void> {
    const container = this.#options.runner.docker.getContainer(instance.containerId);
    try {
      const state = (await container.inspect()).State;
      if (state.Paused) await container.unpause();
      if (state.Running) {
        instance.state = 'running';
        return;
      }
    } catch {
      // Fall through: stopped.
    }
    instance.markStopped('stopped');
  }
}
