import {
  commandProblems,
  DEFAULT_PROJECT,
  type DependencyCache,
  ErrorCode,
  envProblems,
  FaasError,
  fileNotWritten,
  filesProblems,
  type Isolation,
  invalidInput,
  newId,
  type Runtimes,
  type SnapshotRecord,
} from '@faas/core';
import { engineStatus, missingImageError } from '../runtimes/container/docker-engine.ts';
import { baseImageTag } from '../runtimes/container/images/base-image.ts';
import {
  ContainerRuntime,
  pingEngine,
  SANDBOX_DEFAULTS,
  type SandboxRequest,
  type SandboxResult,
} from '../runtimes/container/index.ts';
import type { Instance } from '../runtimes/container/instances/instance.ts';
import { instancePath, writeFile } from '../runtimes/container/instances/instance-files.ts';
import { SANDBOX_WORKDIR } from '../runtimes/container/sandbox/sandbox-container.ts';
import { type ExecCache, execCacheKey } from './exec-cache.ts';
import {
  checkImageReference,
  checkSandboxMemory,
  DEFAULT_INSTANCE_LIMITS,
  type InstanceLimits,
} from './instance-limits.ts';
import { argv, type InstanceService } from './instance-service.ts';
import type { SnapshotService } from './snapshot-service.ts';

/**
 * What no sandbox could run as sent: an empty command, a bad env name, a NUL byte, a file path
 * that cannot name a file. Checked before any container is taken, in every mode.
 * @throws FaasError VALIDATION naming each field
 */
function checkRequest(request: ExecuteRequest): void {
  const problems = [
    ...commandProblems(request.command),
    ...envProblems(request.env),
    ...filesProblems(request.files, SANDBOX_WORKDIR),
  ];
  if (problems.length > 0) throw invalidInput(problems);
}

/** The execute API's modes (seed 003/004). */
export const EXECUTE_MODES = ['ephemeral', 'cached', 'checkpointed', 'branched', 'persistent'] as const;
export type ExecuteMode = (typeof EXECUTE_MODES)[number];
/** The modes that run a command and answer its result (persistent starts an instance instead). */
export type RunMode = Exclude<ExecuteMode, 'persistent'>;

export interface ExecuteRequest {
  /** Whose run: the request's project (`request.project` in the gateway). @default DEFAULT_PROJECT */
  project?: string;
  /** A string runs with the image's `/bin/sh -c`; an array is argv, its first word found on PATH. */
  command: string | string[];
  /** @default the runtime's base image (`faas/base:<hash>`) */
  image?: string;
  env?: Record<string, string>;
  stdin?: string;
  /** Written before the command runs; relative paths are under /workspace, the working dir. */
  files?: Record<string, string>;
  timeoutMs?: number;
  memoryMb?: number;
  cpus?: number;
  network?: boolean;
  /** The project's package caches to mount (opt-in; see dependency-caches.ts). */
  dependencyCaches?: DependencyCache[];
  /** @default 'gvisor' for checkpointed and branched, else 'runc' */
  isolation?: Isolation;
  /** checkpointed: resume from this snapshot (a previous checkpointed execute's `snapshotId`). */
  checkpoint?: string;
  /** branched: the snapshot, or the checkpointed execution, to branch from. */
  parent?: string;
  /** The API key id running it: the instances of the instance modes count against its bound. */
  owner?: string;
}

export interface ExecuteResult extends SandboxResult {
  mode: ExecuteMode;
  /** Cached mode: whether the result came from the cache. */
  cache?: 'hit' | 'miss';
  /** checkpointed/branched: this run's id, and the snapshot taken when the command ended. */
  executionId?: string;
  snapshotId?: string;
}

export interface ExecuteOptions {
  /**
   * Output as the container writes it (streaming); not called for a cache hit. A promise
   * returned holds further output back until it resolves (a slow client).
   */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface ExecuteServiceOptions {
  runtimes: Runtimes;
  cache: ExecCache;
  instances: InstanceService;
  snapshots: SnapshotService;
  /** How long an image tag → id lookup is trusted. @default 5000 */
  imageIdTtlMs?: number;
  /** The operator's bounds; sandboxes share the memory bound with instances. */
  limits?: InstanceLimits;
  /** Told of each run answered and each cache lookup (observability/sandbox-metrics.ts). */
  metrics?: { executed(mode: ExecuteMode): void; cacheLookup(hit: boolean): void };
  /** A gateway's runs go to a worker (cluster/remote-execute.ts), which counts them in its metrics. */
  remote?: {
    execute(request: ExecuteRequest, mode: RunMode, options?: ExecuteOptions): Promise<ExecuteResult>;
  };
}

/** Runs commands in sandboxes for the execute API: ephemeral runs and cached results. */
export class ExecuteService {
  #runtimes: Runtimes;
  #cache: ExecCache;
  #imageIdTtlMs: number;
  #instances: InstanceService;
  #snapshots: SnapshotService;
  #imageIds = new Map<string, { id: string; until: number }>();
  #limits: InstanceLimits;
  #metrics: ExecuteServiceOptions['metrics'];
  #remote: ExecuteServiceOptions['remote'];

  constructor(options: ExecuteServiceOptions) {
    this.#remote = options.remote;
    this.#metrics = options.metrics;
    this.#limits = options.limits ?? DEFAULT_INSTANCE_LIMITS;
    this.#runtimes = options.runtimes;
    this.#cache = options.cache;
    this.#imageIdTtlMs = options.imageIdTtlMs ?? 5000;
    this.#instances = options.instances;
    this.#snapshots = options.snapshots;
  }

  /** The image a request without `image` runs in. */
  get defaultImage(): string {
    return baseImageTag();
  }

  /**
   * Runs the command in a fresh sandbox (`ephemeral`), answers a stored result for the same
   * inputs (`cached`), or runs it in an instance snapshotted at the end (`checkpointed`, also
   * resuming from `checkpoint`; `branched`, from `parent`). Non-zero exits, timeouts and OOM
   * kills are results, not errors. `persistent` is `persistent()`.
   * @throws FaasError BAD_REQUEST for an image the engine does not have; NOT_FOUND for an unknown
   *   checkpoint or parent; RUNTIME_UNAVAILABLE without an engine.
   */
  async execute(
    request: ExecuteRequest,
    mode: ExecuteMode = 'ephemeral',
    options: ExecuteOptions = {},
  ): Promise<ExecuteResult> {
    checkRequest(request);
    if (this.#remote && mode !== 'persistent') return this.#remote.execute(request, mode, options);
    const result = await this.#execute(request, mode, options);
    this.#metrics?.executed(mode);
    if (result.cache) this.#metrics?.cacheLookup(result.cache === 'hit');
    return result;
  }

  async #execute(
    request: ExecuteRequest,
    mode: ExecuteMode,
    options: ExecuteOptions,
  ): Promise<ExecuteResult> {
    checkSandboxMemory(request.memoryMb, this.#limits);
    checkImageReference(request.image);
    switch (mode) {
      case 'ephemeral':
        return { ...(await this.#run(request, options)), mode };
      case 'cached':
        return this.#cached(request, options);
      case 'checkpointed':
        return this.#inInstance(
          request,
          mode,
          options,
          request.checkpoint ? await this.#snapshots.get(request.checkpoint, projectOf(request)) : undefined,
        );
      case 'branched': {
        if (!request.parent)
          throw new FaasError(
            ErrorCode.VALIDATION,
            'Mode "branched" needs "parent": a snapshot or execution id',
          );
        return this.#inInstance(
          request,
          mode,
          options,
          await this.#parentSnapshot(request.parent, projectOf(request)),
        );
      }
      case 'persistent':
        throw new FaasError(ErrorCode.BAD_REQUEST, 'Mode "persistent" starts an instance: use persistent()');
      default:
        throw new FaasError(ErrorCode.VALIDATION, `Unknown mode "${mode as string}"`);
    }
  }

  /**
   * Starts an instance whose main process is the command (its spec's command, as GET shows it),
   * once the files are written; it lives until stopped or idle.
   */
  async persistent(request: ExecuteRequest): Promise<Instance> {
    checkRequest(request);
    const instance = await this.#instances.create(
      { ...this.#instanceFields(request, 'runc'), command: request.command },
      {
        ...(request.owner ? { owner: request.owner } : {}),
        beforeMain: (created) => this.#writeFiles(created, request.files),
      },
    );
    try {
      if (request.stdin && instance.mainProcess !== undefined)
        instance.writeStdin(instance.mainProcess, request.stdin);
      this.#metrics?.executed('persistent');
      return instance;
    } catch (err) {
      await this.#instances.delete(instance.id, undefined).catch(() => {});
      throw err;
    }
  }

  async #inInstance(
    request: ExecuteRequest,
    mode: ExecuteMode,
    options: ExecuteOptions,
    from: SnapshotRecord | undefined,
  ): Promise<ExecuteResult> {
    const executionId = newId('exe');
    const owner = request.owner ? { owner: request.owner } : {};
    // Not idle while its command runs (an exec keeps an instance in use), deleted when it ends.
    // Its own, reached by no other request: not in the cluster's placements.
    const instance = from
      ? await this.#snapshots.restore(from.id, { ...owner, pin: false })
      : await this.#instances.create(this.#instanceFields(request, 'gvisor'), owner, false);
    try {
      await this.#writeFiles(instance, request.files);
      const run = await instance.exec(argv(request.command), {
        ...(request.env ? { env: request.env } : {}),
        ...(request.stdin !== undefined ? { stdin: request.stdin } : {}),
        ...(request.timeoutMs !== undefined ? { timeoutMs: request.timeoutMs } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.onOutput ? { onOutput: options.onOutput } : {}),
      });
      const stopped = instance.state !== 'running';
      // A run the caller gave up on leaves nothing to resume.
      const snapshot =
        stopped || options.signal?.aborted
          ? undefined
          : await this.#snapshots.create(instance.id, { executionId });
      return {
        stdout: run.stdout.toString('utf8'),
        stderr: run.stderr.toString('utf8'),
        exitCode: run.exitCode,
        durationMs: run.durationMs,
        timedOut: run.timedOut,
        // The instance itself was killed: by the memory limit.
        oomKilled: stopped && run.exitCode === 137,
        truncated: run.truncated,
        mode,
        executionId,
        ...(snapshot ? { snapshotId: snapshot.id } : {}),
      };
    } finally {
      await this.#instances.manager.discard(instance.id);
    }
  }

  /** Only the request's project's snapshots: another project's are not found. */
  async #parentSnapshot(parent: string, project: string): Promise<SnapshotRecord> {
    if (parent.startsWith('exe_')) {
      const snapshot = await this.#snapshots.forExecution(parent, project);
      if (!snapshot) throw new FaasError(ErrorCode.NOT_FOUND, `Execution "${parent}" left no snapshot`);
      return snapshot;
    }
    return this.#snapshots.get(parent, project);
  }

  #instanceFields(request: ExecuteRequest, isolation: Isolation) {
    return {
      project: request.project ?? DEFAULT_PROJECT,
      ...(request.image ? { image: request.image } : {}),
      ...(request.env ? { env: request.env } : {}),
      ...(request.memoryMb !== undefined ? { memoryMb: request.memoryMb } : {}),
      ...(request.cpus !== undefined ? { cpus: request.cpus } : {}),
      ...(request.network !== undefined ? { network: request.network } : {}),
      ...(request.dependencyCaches ? { dependencyCaches: request.dependencyCaches } : {}),
      isolation: request.isolation ?? isolation,
    };
  }

  /**
   * Writes the request's files (their paths checked by checkRequest). One the instance cannot
   * write (a read-only folder, a full disk) is the caller's: 422 naming it and the reason.
   */
  async #writeFiles(instance: Instance, files: Record<string, string> | undefined): Promise<void> {
    for (const [path, content] of Object.entries(files ?? {})) {
      try {
        await writeFile(instance, instancePath(path), Buffer.from(content, 'utf8'));
      } catch (err) {
        const { code, details } = err as FaasError;
        if (code !== ErrorCode.BAD_REQUEST && code !== ErrorCode.NOT_FOUND) throw err;
        const reason = (details as { message?: string } | undefined)?.message ?? (err as Error).message;
        throw fileNotWritten(path, reason, err);
      }
    }
  }

  async #cached(request: ExecuteRequest, options: ExecuteOptions): Promise<ExecuteResult> {
    const sandbox = this.#sandboxRequest(request, {});
    const key = execCacheKey({
      project: sandbox.project ?? DEFAULT_PROJECT,
      imageId: await this.#imageId(sandbox.image),
      command: sandbox.command,
      env: sandbox.env ?? {},
      files: request.files ?? {},
      stdin: request.stdin ?? '',
      memoryMb: sandbox.memoryMb ?? SANDBOX_DEFAULTS.memoryMb,
      cpus: sandbox.cpus ?? SANDBOX_DEFAULTS.cpus,
      timeoutMs: sandbox.timeoutMs ?? SANDBOX_DEFAULTS.timeoutMs,
      network: sandbox.network ?? false,
      isolation: sandbox.isolation ?? 'runc',
      dependencyCaches: sandbox.dependencyCaches ?? [],
    });
    const stored = await this.#cache.get(key);
    if (stored) return { ...stored, mode: 'cached', cache: 'hit' };
    const result = await this.#container().runInSandbox(this.#sandboxRequest(request, options));
    // A run we killed (its timeout, or its caller gone) says nothing about what the command
    // produces: its 137 and cut output would be answered to every later caller.
    if (!result.timedOut && !options.signal?.aborted) await this.#cache.set(key, result);
    return { ...result, mode: 'cached', cache: 'miss' };
  }

  #run(request: ExecuteRequest, options: ExecuteOptions): Promise<SandboxResult> {
    return this.#container().runInSandbox(this.#sandboxRequest(request, options));
  }

  /** What an ephemeral or cached run asks the sandbox for: the cache key is made from this too. */
  #sandboxRequest(request: ExecuteRequest, options: ExecuteOptions): SandboxRequest {
    return {
      project: request.project ?? DEFAULT_PROJECT,
      image: request.image ?? this.defaultImage,
      command: request.command,
      ...(request.env ? { env: request.env } : {}),
      ...(request.stdin !== undefined ? { stdin: request.stdin } : {}),
      ...(request.files ? { files: request.files } : {}),
      ...(request.timeoutMs !== undefined ? { timeoutMs: request.timeoutMs } : {}),
      ...(request.memoryMb !== undefined ? { memoryMb: request.memoryMb } : {}),
      ...(request.cpus !== undefined ? { cpus: request.cpus } : {}),
      ...(request.network !== undefined ? { network: request.network } : {}),
      ...(request.isolation !== undefined ? { isolation: request.isolation } : {}),
      ...(request.dependencyCaches ? { dependencyCaches: request.dependencyCaches } : {}),
      ...(options.onOutput ? { onOutput: options.onOutput } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    };
  }

  /** The image's content id, so a re-built tag does not answer the old image's results. */
  async #imageId(image: string): Promise<string> {
    const known = this.#imageIds.get(image);
    if (known && known.until > Date.now()) return known.id;
    const runtime = this.#container();
    await runtime.ensureImage(image);
    let id: string;
    try {
      id = (await runtime.docker.getImage(image).inspect()).Id;
    } catch (err) {
      if (engineStatus(err) === 404) throw missingImageError(image, err);
      const ping = await pingEngine(runtime.docker);
      throw new FaasError(
        ErrorCode.RUNTIME_UNAVAILABLE,
        ping.ok ? `Inspecting image "${image}" failed: ${(err as Error).message}` : ping.reason,
        { cause: err },
      );
    }
    this.#imageIds.set(image, { id, until: Date.now() + this.#imageIdTtlMs });
    return id;
  }

  #container(): ContainerRuntime {
    const runtime = this.#runtimes.all.find((r) => r instanceof ContainerRuntime);
    if (!runtime) {
      throw new FaasError(
        ErrorCode.RUNTIME_UNAVAILABLE,
        'This server has no container runtime for sandboxes',
      );
    }
    return runtime as ContainerRuntime;
  }
}

/** The project a run is in: its snapshots must be that project's. */
function projectOf(request: ExecuteRequest): string {
  return request.project ?? DEFAULT_PROJECT;
}
