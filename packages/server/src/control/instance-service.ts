import { setTimeout as sleep } from 'node:timers/promises';
import {
  commandProblems,
  DEFAULT_PROJECT,
  type DependencyCache,
  ErrorCode,
  envProblems,
  FaasError,
  type InstanceSpec,
  type InstanceView,
  type Isolation,
  inScope,
  invalidInput,
  type PlacementBounds,
  type PlacementRoom,
  quotaExceeded,
  type Runtimes,
} from '@faas/core';
import { ContainerRuntime } from '../runtimes/container/container-runtime.ts';
import { baseImageTag } from '../runtimes/container/images/base-image.ts';
import type { Instance } from '../runtimes/container/instances/instance.ts';
import type { CreateOptions, InstanceManager } from '../runtimes/container/instances/instance-manager.ts';
import { checkInstanceSpec, DEFAULT_INSTANCE_LIMITS, type InstanceLimits } from './instance-limits.ts';
import type { ProjectLimits } from './project-limits.ts';

/** Waits between attempts to mark a previous run's instances lost: 1 s doubling to 30 s. */
const MARK_LOST_RETRY_BASE_MS = 1_000;
const MARK_LOST_RETRY_MAX_MS = 30_000;

/** What a client asks for; everything but the image has a default. */
export interface InstanceRequest {
  /** Whose instance: the request's project (`request.project` in the gateway). @default DEFAULT_PROJECT */
  project?: string;
  image?: string;
  /** The main process: a string runs with `sh -c`. */
  command?: string | string[];
  env?: Record<string, string>;
  memoryMb?: number;
  cpus?: number;
  pidsLimit?: number;
  diskMb?: number;
  network?: boolean;
  isolation?: Isolation;
  idleTtlMs?: number;
  dependencyCaches?: DependencyCache[];
}

export const INSTANCE_DEFAULTS = {
  memoryMb: 512,
  cpus: 1,
  pidsLimit: 512,
  diskMb: 256,
  idleTtlMs: 10 * 60 * 1000,
} as const;

/**
 * A command as the API takes it (a string runs with `sh -c`, an array is argv) as the argv the
 * agent starts.
 * @throws FaasError VALIDATION naming `field` when it is empty, not strings, or holds a NUL
 */
export function argv(command: unknown, field = 'command'): string[] {
  const problems = commandProblems(command, field);
  if (problems.length > 0) throw invalidInput(problems);
  return typeof command === 'string' ? ['sh', '-c', command] : (command as string[]);
}

export function instanceView(instance: Instance): InstanceView {
  const { spec } = instance;
  return {
    id: instance.id,
    status: instance.state,
    reason: instance.reason ?? null,
    image: spec.image,
    command: spec.command ?? null,
    // Names only: values may be secrets.
    env: Object.keys(spec.env),
    isolation: spec.isolation,
    memory_mb: spec.memoryMb,
    cpus: spec.cpus,
    pids_limit: spec.pidsLimit,
    disk_mb: spec.diskMb,
    network: spec.network,
    idle_ttl_ms: spec.idleTtlMs,
    dependency_caches: spec.dependencyCaches ?? [],
    created_at: new Date(instance.createdAt).toISOString(),
    last_active_at: new Date(instance.lastActiveAt).toISOString(),
    processes: instance.processes(),
    watchers: instance.events.watchers,
  };
}

/**
 * Where the cluster's instances live (cluster/instance-placements.ts, in Redis): every gateway
 * reads it, each worker writes its own.
 */
export interface PlacementBook {
  /**
   * Holds room for `count` new instances of `project` within `bounds`, over the whole cluster:
   * what each bound counts plus the room others hold, checked and taken in one step, so that
   * creates racing on two workers cannot both pass.
   */
  reserve(project: string, count: number, bounds: PlacementBounds): Promise<PlacementRoom>;
  /** `live`: it holds a running container (what its owner's bound counts). */
  record(
    node: string,
    project: string,
    view: InstanceView,
    owner: string | undefined,
    live: boolean,
  ): Promise<void>;
  /** It started, stopped or failed. */
  setLive(id: string, live: boolean): Promise<void>;
  /** Where an instance lives: its worker's node id and its project. */
  get(id: string): Promise<{ node: string; project: string } | undefined>;
  remove(id: string): Promise<void>;
  markLost(node: string, has: ReadonlySet<string>, reason: string): Promise<number>;
}

/** A worker's place in the cluster: the placements, its own node id, the bound per API key. */
export interface InstancePinning {
  placements: PlacementBook;
  nodeId: string;
  /** Live instances one API key may hold over the cluster (FAAS_INSTANCE_MAX_PER_KEY). */
  maxLivePerKey: number;
  /** An instance's start or stop could not be written to the placements. */
  onError: (err: unknown) => void;
}

/**
 * The instance API's entry point: defaults, the operator's bounds, and the container runtime's
 * instance manager.
 */
export class InstanceService {
  #runtimes: Runtimes;
  readonly limits: InstanceLimits;

  /** Projects' quotas (`instances`); absent: none. */
  #quotas: ProjectLimits | undefined;
  /** Instances being made per project, not yet listed by the manager: counted against its quota. */
  #making = new Map<string, number>();

  /** On a worker of a cluster: its instances are pinned to it in the shared placements. */
  #pinning: InstancePinning | undefined;
  /** Per instance, the last start or stop being written to the placements (a stop waits for it). */
  #liveWrites = new Map<string, Promise<void>>();

  constructor(
    runtimes: Runtimes,
    limits: InstanceLimits = DEFAULT_INSTANCE_LIMITS,
    quotas?: ProjectLimits,
    pinning?: InstancePinning,
  ) {
    this.#runtimes = runtimes;
    this.limits = limits;
    this.#quotas = quotas;
    this.#pinning = pinning;
    // Each start and stop, whatever made it (a request, the idle sweep, a container that died),
    // reaches the placements, in order: the per-key bound counts the live ones over the cluster.
    if (pinning) {
      this.#containerRuntime()?.instances.onLiveChange((instance) => {
        const { id } = instance;
        const write = pinning.placements.setLive(id, instance.live).catch(pinning.onError);
        this.#liveWrites.set(id, write);
        void write.then(() => {
          if (this.#liveWrites.get(id) === write) this.#liveWrites.delete(id);
        });
      });
    }
  }

  /**
   * On a worker: records that `made` (a new, restored or forked instance) lives here, before the
   * request that made it is answered, so every gateway routes its calls here. One that cannot be
   * recorded could not be reached through a gateway: it is removed, and the request fails.
   * @throws FaasError STORAGE_UNAVAILABLE when Redis does not take the entry
   */
  async #pin(made: readonly Instance[]): Promise<void> {
    const pinning = this.#pinning;
    if (!pinning) return;
    try {
      await Promise.all(
        made.map((i) =>
          pinning.placements.record(
            pinning.nodeId,
            i.spec.project ?? DEFAULT_PROJECT,
            instanceView(i),
            i.owner,
            i.live,
          ),
        ),
      );
    } catch (err) {
      await Promise.all(
        made.map(async (i) => {
          await this.manager.delete(i.id).catch(() => {});
          await pinning.placements.remove(i.id).catch(() => {});
        }),
      );
      throw new FaasError(
        ErrorCode.STORAGE_UNAVAILABLE,
        'Recording where the instance lives failed (Redis)',
        {
          cause: err,
        },
      );
    }
  }

  /**
   * Removes the instance of project `scope` (undefined: any) and its entry in the cluster's
   * placements. An entry of this worker whose instance is gone (a delete whose removal of the
   * entry failed, Redis down) goes too: made again, the delete finishes what it started.
   */
  async delete(id: string, scope: string | undefined): Promise<void> {
    try {
      await this.get(id, scope);
    } catch (err) {
      if (await this.#removeEntryLeftBehind(id, scope, err)) return;
      throw err;
    }
    await this.manager.delete(id);
    await this.#pinning?.placements.remove(id);
  }

  async #removeEntryLeftBehind(id: string, scope: string | undefined, err: unknown): Promise<boolean> {
    const pinning = this.#pinning;
    if (!pinning || !(err instanceof FaasError) || err.code !== ErrorCode.NOT_FOUND) return false;
    const placement = await pinning.placements.get(id);
    if (placement?.node !== pinning.nodeId || !inScope(scope, placement.project)) return false;
    await pinning.placements.remove(id);
    return true;
  }

  /**
   * On a worker that starts again with its identity: its placements whose instance it did not
   * find again are marked lost. @returns how many
   */
  async markLostOfThisNode(): Promise<number> {
    const pinning = this.#pinning;
    if (!pinning) return 0;
    const here = new Set((await this.manager.list()).map((i) => i.id));
    return pinning.placements.markLost(
      pinning.nodeId,
      here,
      `its worker ${pinning.nodeId} restarted without its container`,
    );
  }

  /**
   * markLostOfThisNode until it succeeds, trying again with backoff; stops with `signal`. At a
   * worker's start the engine may not answer yet (Docker slow at boot) or Redis may fail: until
   * it ran, entries whose container is gone stay `running` where nothing serves them, hidden
   * from their owner yet counted in the project's quota and FAAS_INSTANCE_MAX_PER_KEY.
   * @returns how many were marked; undefined when stopped first
   */
  async markLostOfThisNodeUntilDone(
    signal: AbortSignal,
    onFailure: (err: unknown, retryInMs: number) => void,
  ): Promise<number | undefined> {
    for (
      let wait = MARK_LOST_RETRY_BASE_MS;
      !signal.aborted;
      wait = Math.min(wait * 2, MARK_LOST_RETRY_MAX_MS)
    ) {
      try {
        return await this.markLostOfThisNode();
      } catch (err) {
        if (signal.aborted) return undefined;
        onFailure(err, wait);
      }
      try {
        await sleep(wait, undefined, { signal, ref: false });
      } catch {
        return undefined;
      }
    }
    return undefined;
  }

  /**
   * Runs `make`, which makes `count` instances of `project` for `owner`, within the project's
   * `instances` quota, and with `pin` records them in the cluster's placements before the room
   * held for them is given back (so that no create between the two misses them). Pinned ones
   * are also held to FAAS_INSTANCE_MAX_PER_KEY over the cluster (each worker checks its own).
   * @throws FaasError QUOTA_EXCEEDED (403), INSTANCE_LIMIT (429)
   */
  async withinQuota(
    project: string,
    count: number,
    make: () => Promise<Instance[]>,
    pin: boolean,
    owner?: string,
  ): Promise<Instance[]> {
    const limit = this.#quotas?.of(project)?.instances;
    const release = this.#pinning
      ? await this.#reserveInCluster(this.#pinning, project, count, limit, pin ? owner : undefined)
      : limit === undefined
        ? undefined
        : await this.#reserveHere(project, count, limit);
    try {
      const made = await make();
      if (pin) await this.#pin(made);
      return made;
    } finally {
      await release?.();
    }
  }

  /** Stops it; on a worker of a cluster, its key's bound counts it no more once this answers. */
  async stop(id: string): Promise<Instance> {
    const stopped = await this.manager.stop(id);
    await this.#liveWrites.get(id);
    return stopped;
  }

  /**
   * Starts a stopped instance again. On a worker of a cluster, within its key's bound over the
   * cluster, and marked live in the placements before the room held for it is given back.
   * @throws FaasError INSTANCE_LIMIT
   */
  async start(id: string): Promise<Instance> {
    const pinning = this.#pinning;
    const instance = await this.manager.get(id);
    if (!pinning || instance.live) return this.manager.start(id);
    const project = instance.spec.project ?? DEFAULT_PROJECT;
    const release = await this.#reserveInCluster(pinning, project, 1, undefined, instance.owner);
    try {
      const started = await this.manager.start(id);
      await this.#liveWrites.get(id);
      return started;
    } finally {
      await release?.();
    }
  }

  /**
   * Room over every worker (the placements): for `count` instances of `project` within `limit`,
   * and of `owner` within the per-key bound. @returns what gives it back; undefined: no bound
   * to hold room in. @throws FaasError QUOTA_EXCEEDED, INSTANCE_LIMIT
   */
  async #reserveInCluster(
    pinning: InstancePinning,
    project: string,
    count: number,
    limit: number | undefined,
    owner: string | undefined,
  ): Promise<(() => Promise<void>) | undefined> {
    if (limit === undefined && owner === undefined) return undefined;
    const room = await pinning.placements.reserve(project, count, {
      ...(limit !== undefined ? { projectLimit: limit } : {}),
      ...(owner !== undefined ? { owner: { id: owner, limit: pinning.maxLivePerKey } } : {}),
    });
    if ('release' in room) return room.release;
    if (room.over === 'project') throw quotaExceeded('instances', limit ?? 0, 'instances');
    throw new FaasError(
      ErrorCode.INSTANCE_LIMIT,
      `This API key has ${room.has} live instance(s) in the cluster; ${count} more would pass its bound of ${pinning.maxLivePerKey} (FAAS_INSTANCE_MAX_PER_KEY): stop or delete one`,
      { details: { setting: 'FAAS_INSTANCE_MAX_PER_KEY', limit: pinning.maxLivePerKey, live: room.has } },
    );
  }

  /**
   * Room for `count` instances of `project` on this server: its instances and those being made
   * in this process.
   * @throws FaasError QUOTA_EXCEEDED
   */
  async #reserveHere(project: string, count: number, limit: number): Promise<() => Promise<void>> {
    const making = this.#making.get(project) ?? 0;
    // Counted as taken before the await: a concurrent call sees them.
    this.#making.set(project, making + count);
    const release = async () => {
      const left = (this.#making.get(project) ?? count) - count;
      if (left > 0) this.#making.set(project, left);
      else this.#making.delete(project);
    };
    const has = (await this.manager.list()).filter(
      (i) => (i.spec.project ?? DEFAULT_PROJECT) === project,
    ).length;
    if (has + making + count > limit) {
      await release();
      throw quotaExceeded('instances', limit, 'instances');
    }
    return release;
  }

  /**
   * The spec a request asks for, with defaults.
   * @throws FaasError VALIDATION for a command or env no process could start with (naming the
   *   field), or past one of the operator's bounds (naming it)
   */
  specFor(request: InstanceRequest): InstanceSpec {
    // An omitted command is meaningful (the instance waits for exec); an empty one is refused.
    const problems = [
      ...(request.command !== undefined ? commandProblems(request.command) : []),
      ...envProblems(request.env),
    ];
    if (problems.length > 0) throw invalidInput(problems);
    // Defaults never pass the operator's bounds: only what a client asks for can be refused.
    const limits = this.limits;
    const memoryMb = request.memoryMb ?? Math.min(INSTANCE_DEFAULTS.memoryMb, limits.maxMemoryMb);
    const idleBound = limits.maxIdleTtlMs > 0 ? limits.maxIdleTtlMs : Number.POSITIVE_INFINITY;
    const spec: InstanceSpec = {
      image: request.image ?? baseImageTag(),
      ...(request.command !== undefined ? { command: argv(request.command) } : {}),
      env: request.env ?? {},
      memoryMb,
      cpus: request.cpus ?? Math.min(INSTANCE_DEFAULTS.cpus, limits.maxCpus),
      pidsLimit: request.pidsLimit ?? Math.min(INSTANCE_DEFAULTS.pidsLimit, limits.maxPids),
      diskMb: request.diskMb ?? Math.min(INSTANCE_DEFAULTS.diskMb, limits.maxDiskMb, memoryMb),
      network: request.network ?? false,
      isolation: request.isolation ?? 'runc',
      idleTtlMs: request.idleTtlMs ?? Math.min(INSTANCE_DEFAULTS.idleTtlMs, idleBound),
      ...(request.dependencyCaches?.length ? { dependencyCaches: request.dependencyCaches } : {}),
      project: request.project ?? DEFAULT_PROJECT,
    };
    checkInstanceSpec(spec, this.limits);
    return spec;
  }

  /**
   * With `pin` (the API's instances), recorded in the cluster's placements; without it (an
   * execute's own, deleted when its command ends), not.
   * @throws FaasError VALIDATION past a spec bound; INSTANCE_LIMIT past a count bound
   */
  async create(request: InstanceRequest, options: CreateOptions = {}, pin = true): Promise<Instance> {
    const spec = this.specFor(request);
    const [made] = await this.withinQuota(
      spec.project ?? DEFAULT_PROJECT,
      1,
      async () => [await this.manager.create(spec, options)],
      pin,
      options.owner,
    );
    return made as Instance;
  }

  /**
   * An instance as one project sees it (scope; undefined: every project): another project's is
   * not found. @throws FaasError NOT_FOUND
   */
  async get(id: string, scope: string | undefined): Promise<Instance> {
    const instance = await this.manager.get(id);
    if (!inScope(scope, instance.spec.project))
      throw new FaasError(ErrorCode.NOT_FOUND, `No instance "${id}"`);
    return instance;
  }

  /** Newest first, of one project (scope; undefined: every project). */
  async list(scope: string | undefined): Promise<Instance[]> {
    return (await this.manager.list()).filter((instance) => inScope(scope, instance.spec.project));
  }

  /** @throws FaasError RUNTIME_UNAVAILABLE when the server has no container runtime */
  get manager(): InstanceManager {
    const runtime = this.#containerRuntime();
    if (!runtime) {
      throw new FaasError(
        ErrorCode.RUNTIME_UNAVAILABLE,
        'This server has no container runtime for instances',
      );
    }
    return runtime.instances;
  }

  #containerRuntime(): ContainerRuntime | undefined {
    return this.#runtimes.all.find((r): r is ContainerRuntime => r instanceof ContainerRuntime);
  }
}
