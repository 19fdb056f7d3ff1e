import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  type BlobStore,
  ErrorCode,
  FaasError,
  type FunctionRuntime,
  type FunctionVersion,
  type InvokeOutcome,
  type InvokeRequest,
  type PrepareOptions,
  type Runtime,
  type RuntimeHealth,
  type RuntimeStats,
  refusedBeforeStart,
} from '@faas/core';
import type Docker from 'dockerode';
import { withColdStart } from '../cold-start.ts';
import type { AgentContainer } from './agent-container.ts';
import { AgentFactory, LoadFailure } from './agent-factory.ts';
import { invocationError, invokeInContainer } from './agent-invocation.ts';
import { type AgentError, DEFAULT_AGENT_LIMITS, DEFAULT_RESULT_BYTES } from './agent-messages.ts';
import { CodeCache } from './code-cache.ts';
import { ownerIdFor, removeOwnedContainers } from './container-labels.ts';
import { ContainerTally } from './container-roles.ts';
import { DependencyCaches } from './dependency-caches.ts';
import { DependencyInstaller } from './dependency-installer.ts';
import { createDockerClient, ENGINE_HINT, engineIsLocal, pingEngine } from './docker-engine.ts';
import { GoBuilder } from './go-builder.ts';
import { ImageFunctions } from './image-functions.ts';
import { baseImageTag } from './images/base-image.ts';
import { buildGoImage, buildRuntimeImages, type RuntimeImageTags } from './images/build-runtime-images.ts';
import { INSTANCE_ROLE } from './instances/instance-container.ts';
import { InstanceManager } from './instances/instance-manager.ts';
import type { InstanceCountLimits } from './instances/instance-quota.ts';
import { EgressFirewall } from './network/egress-firewall.ts';
import { EgressNetwork } from './network/egress-network.ts';
import { PendingWork } from './pending-work.ts';
import {
  DEFAULT_BUSYBOX_PATH,
  SandboxPools,
  type SandboxRequest,
  type SandboxResult,
} from './sandbox/sandbox-pools.ts';
import { VersionPool } from './version-pool.ts';

type Logger = Pick<Console, 'error' | 'warn' | 'info'>;

export interface ContainerRuntimeOptions {
  /** Holds the functions' code tars (`fn.codeSha256`). */
  blobs: BlobStore;
  /** Unpacked code and the containers' folders live here; also names this server's containers. */
  dataDir: string;
  /** Warm containers idle this long are removed. */
  idleTimeoutMs: number;
  /** An engine client; made from `dockerHost` (or DOCKER_HOST, or the default socket) when absent. */
  docker?: Docker;
  dockerHost?: string;
  logger?: Logger;
  /** Started containers kept waiting for code, per runtime image. @default 2 */
  sparesPerImage?: number;
  /** Pre-started sandbox containers kept per image used by runInSandbox/image functions. @default 2 */
  sandboxSpares?: number;
  /** Log bytes kept per invocation; past it, a marker line. @default 262144 */
  maxLogBytes?: number;
  /** Largest result (JSON bytes, or raw bytes), as for every runtime. @default 6291456 */
  maxResultBytes?: number;
  /** Build missing runtime images on first use (else invokes fail until `faas images build`). @default true */
  buildImages?: boolean;
  /** Where the base image's rootfs tarball is cached. @default <dataDir>/images */
  imageCacheDir?: string;
  /** Paused restores kept ready for recently used memory snapshots. @default 4 */
  restoreStandbys?: number;
  /** Bounds on live instances. @default 64 in all, 16 per API key */
  instanceLimits?: InstanceCountLimits;
  /** Which dependencies functions may declare and where installs fetch them. */
  dependencies?: DependencySettings;
  /** Size of each project's file system per dependency cache (FAAS_DEPENDENCY_CACHE_MB). @default 2048 */
  dependencyCacheMb?: number;
  /** How long a check of the egress firewall is trusted, and its background pace. @default 5000 */
  egressCheckMs?: number;
  /** The egress network's firewall. @default one that runs this host's iptables */
  egressFirewall?: EgressFirewall;
}

/** How function dependencies are installed (in a sandbox container, at deploy). */
export interface DependencySettings {
  /** Specs other than registry packages (files, git, URLs, pip options). @default false */
  allowNonRegistry?: boolean;
  /** @default https://registry.npmjs.org/ */
  npmRegistry?: string;
  /** @default https://pypi.org/simple */
  pipIndexUrl?: string;
}

export const CONTAINER_DEFAULTS = { maxLogBytes: 256 * 1024, dependencyCacheMb: 2048 } as const;

/**
 * Runs node, python, go and image functions in Docker containers. node/python/go containers run the
 * agent (images/agent), which loads the handler once and serves invocations over a Unix socket;
 * a warm invoke is one round trip on it. Spare containers wait for code so a version's first
 * invoke skips container start. Image functions run in fresh pre-started sandboxes.
 */
/** The function kinds containers run (a cluster's gateways send these to workers). */
export const CONTAINER_FUNCTION_KINDS: readonly FunctionRuntime[] = ['node', 'python', 'go', 'image'];

export class ContainerRuntime implements Runtime {
  readonly kind = 'container' as const;
  readonly docker: Docker;
  readonly sandboxes: SandboxPools;
  /** Long-lived sandboxes (instances), their checkpoints and restores. */
  readonly instances: InstanceManager;
  #options: ContainerRuntimeOptions;
  #logger: Logger;
  #dataDir: string;
  #ownerId: string;
  #code: CodeCache;
  #installer: DependencyInstaller;
  #started: Promise<void> | undefined;
  #images: Promise<RuntimeImageTags> | undefined;
  #goImage: Promise<string> | undefined;
  #goBuilds: GoBuilder;
  #imageListeners = new Set<(message: string) => void>();
  #agents: AgentFactory;
  #pools = new Map<string, VersionPool>();
  #removals = new PendingWork();
  #imageFunctions: ImageFunctions;
  #caches: DependencyCaches;
  #egress: EgressNetwork;
  #sweeper: NodeJS.Timeout;
  #instanceSweeper: NodeJS.Timeout;
  #closed = false;

  constructor(options: ContainerRuntimeOptions) {
    this.#options = options;
    this.#logger = options.logger ?? console;
    this.#dataDir = resolve(options.dataDir);
    this.#ownerId = ownerIdFor(this.#dataDir);
    this.docker = options.docker ?? createDockerClient(options.dockerHost);
    this.#installer = new DependencyInstaller({
      docker: this.docker,
      ownerId: this.#ownerId,
      cacheRoot: join(this.#dataDir, 'deps'),
      policy: {
        allowNonRegistry: options.dependencies?.allowNonRegistry ?? false,
        npmRegistry: options.dependencies?.npmRegistry ?? 'https://registry.npmjs.org/',
      },
      pipIndexUrl: options.dependencies?.pipIndexUrl ?? 'https://pypi.org/simple',
      imageTags: () => this.#imageTags(),
      // Read at each install: the egress network is made below.
      egress: () => this.#egress.ready(),
    });
    this.#code = new CodeCache(join(this.#dataDir, 'code'), options.blobs, (dir, origin, onProgress) =>
      this.#installer.install(dir, origin, onProgress),
    );
    this.#egress = new EgressNetwork({
      docker: this.docker,
      firewall: options.egressFirewall ?? new EgressFirewall(),
      engineIsLocal: options.docker ? true : engineIsLocal(options.dockerHost),
      logger: this.#logger,
      ...(options.egressCheckMs !== undefined ? { checkMs: options.egressCheckMs } : {}),
    });
    this.#caches = new DependencyCaches({
      root: join(this.#dataDir, 'caches'),
      capMb: options.dependencyCacheMb ?? CONTAINER_DEFAULTS.dependencyCacheMb,
    });
    const egress = () => this.#egress.ready();
    this.sandboxes = new SandboxPools({
      docker: this.docker,
      ownerId: this.#ownerId,
      spares: options.sandboxSpares ?? 2,
      idleTimeoutMs: options.idleTimeoutMs,
      egress,
      caches: (project, caches) => this.#caches.prepare(project, caches),
      onError: (err) => this.#logger.warn('starting a sandbox container failed', err),
    });
    this.#imageFunctions = new ImageFunctions(this.sandboxes, options.maxResultBytes ?? DEFAULT_RESULT_BYTES);
    this.instances = new InstanceManager({
      docker: this.docker,
      ownerId: this.#ownerId,
      agentDir: join(this.#dataDir, 'bin'),
      stagingDir: join(this.#dataDir, 'checkpoints'),
      busyboxPath: DEFAULT_BUSYBOX_PATH,
      logger: this.#logger,
      ready: () => this.#ensureStarted(),
      ensureImage: (image) => this.ensureImage(image),
      prepareCaches: (project, caches) => this.#caches.prepare(project, caches),
      egress,
      ...(options.restoreStandbys !== undefined ? { restoreStandbys: options.restoreStandbys } : {}),
      ...(options.instanceLimits ? { limits: options.instanceLimits } : {}),
    });
    this.#goBuilds = new GoBuilder({
      docker: this.docker,
      ownerId: this.#ownerId,
      root: join(this.#dataDir, 'go'),
      image: () => this.#goImageTag(),
    });
    this.#agents = new AgentFactory({
      docker: this.docker,
      dataDir: this.#dataDir,
      ownerId: this.#ownerId,
      code: this.#code,
      removals: this.#removals,
      sparesPerImage: options.sparesPerImage ?? 2,
      imageTags: (onProgress) => this.#runtimeImages(onProgress),
      goImage: (onProgress) => this.#goImageTag(onProgress),
      goBuilds: this.#goBuilds,
      messageLimits: { ...DEFAULT_AGENT_LIMITS, resultBytes: options.maxResultBytes ?? DEFAULT_RESULT_BYTES },
      egress,
      onError: (message, err) => this.#logger.warn(message, err),
    });
    const sweepMs = Math.max(250, Math.min(options.idleTimeoutMs / 2, 30_000));
    this.#sweeper = setInterval(() => this.#sweepIdle(), sweepMs);
    this.#sweeper.unref();
    // Instance TTLs are user-facing: checked every second, not at the pools' pace.
    this.#instanceSweeper = setInterval(() => {
      if (this.#started) void this.instances.sweepIdle();
    }, 1000);
    this.#instanceSweeper.unref();
  }

  /** The label value that marks this runtime's containers (`faas.owner`). */
  get ownerId(): string {
    return this.#ownerId;
  }

  supports(runtime: FunctionRuntime): boolean {
    return CONTAINER_FUNCTION_KINDS.includes(runtime);
  }

  async health(): Promise<RuntimeHealth> {
    if (this.#closed) return { ready: false, reason: 'The container runtime is closed' };
    const ping = await pingEngine(this.docker);
    if (!ping.ok) return { ready: false, reason: ping.reason };
    // The first health check of a server is its start: clear orphans now, not at first use.
    this.#ensureStarted().catch((err) => this.#logger.warn('starting the container runtime failed', err));
    return { ready: true };
  }

  async prepare(fn: FunctionVersion, options: PrepareOptions = {}): Promise<void> {
    await this.#ensureStarted();
    if (fn.runtime === 'image') {
      await this.#imageFunctions.prepare(fn);
      return;
    }
    const pool = this.#pool(fn);
    let container: AgentContainer;
    try {
      container = await pool.acquire(fn.maxConcurrency, () => this.#agents.loaded(fn, options.onProgress));
    } catch (err) {
      if (err instanceof LoadFailure) throw loadRefusal(err.error);
      throw unavailable(err);
    }
    pool.release(container, true);
  }

  async invoke(request: InvokeRequest): Promise<InvokeOutcome> {
    const { fn } = request;
    // Closed, or no engine: nothing of the call ran (another worker may take it).
    await this.#ensureStarted().catch((err: unknown) => {
      throw refusedBeforeStart(unavailable(err));
    });
    if (fn.runtime === 'image') return this.#imageFunctions.invoke(request);
    const started = performance.now();
    const pool = this.#pool(fn);
    // Cold: the pool had to load a container for this call (a spare one takes the code, or a new one starts).
    let cold = false;
    const acquiring = pool.acquire(fn.maxConcurrency, () => {
      cold = true;
      return this.#agents.loaded(fn);
    });
    // The deadline holds from the call's start, on this clock: a container that is still starting
    // (or a slot still taken) when it passes does not hold the answer back.
    const stop = stopOf(request);
    let container: AgentContainer;
    try {
      const first = await Promise.race([acquiring, stop.reached]);
      if (first === 'timeout' || first === 'abort') {
        // The start goes on: its container serves the next call.
        acquiring.then(
          (late) => pool.release(late, true),
          () => {},
        );
        const metrics = { durationMs: performance.now() - started };
        return first === 'timeout'
          ? {
              status: 'timed_out',
              error: { type: 'Timeout', message: `The function did not start within ${fn.timeoutMs} ms` },
              metrics,
            }
          : {
              status: 'failed',
              error: { type: 'Aborted', message: 'The invocation was cancelled' },
              metrics,
            };
      }
      container = first;
    } catch (err) {
      if (err instanceof LoadFailure) {
        return {
          status: 'failed',
          error: invocationError(err.error),
          metrics: { durationMs: performance.now() - started },
        };
      }
      if (err instanceof FaasError && err.code !== ErrorCode.RUNTIME_UNAVAILABLE) {
        return {
          status: 'failed',
          error: { type: err.code, message: err.message },
          metrics: { durationMs: performance.now() - started },
        };
      }
      // No container for it: the call was never handed to one.
      throw refusedBeforeStart(unavailable(err));
    } finally {
      stop.cancel();
    }
    let invocation: Awaited<ReturnType<typeof invokeInContainer>>;
    // The call to the in-container agent, as a span when tracing is on (none is made otherwise).
    const agentCall = request.trace?.span?.('faas.agent.call', { 'faas.runtime': fn.runtime });
    try {
      invocation = await invokeInContainer(
        container,
        request,
        this.#options.maxLogBytes ?? CONTAINER_DEFAULTS.maxLogBytes,
      );
    } catch (err) {
      agentCall?.end(err instanceof Error ? err.message : String(err));
      pool.release(container, false);
      throw unavailable(err);
    }
    const { outcome } = invocation;
    agentCall?.end(outcome.status === 'succeeded' ? undefined : `${outcome.status}: ${outcome.error.type}`);
    pool.release(container, invocation.reusable);
    return withColdStart(outcome, cold);
  }

  /**
   * Runs a command in a fresh container from a pool of pre-started ones (the execute API's
   * ephemeral mode); the container is removed after. Function faults (non-zero exit, timeout,
   * OOM) are in the result.
   * @throws FaasError BAD_REQUEST for an image the engine does not have; RUNTIME_UNAVAILABLE.
   */
  async runInSandbox(request: SandboxRequest): Promise<SandboxResult> {
    await this.#ensureStarted();
    await this.ensureImage(request.image);
    return this.sandboxes.run(request);
  }

  /**
   * Resolves when containers with network may start: the egress network exists behind its
   * firewall rules (network/egress-network.ts).
   * @throws FaasError NETWORK_UNAVAILABLE when the rules cannot be installed.
   */
  async egressReady(): Promise<void> {
    await this.#egress.ready();
  }

  /**
   * Builds the default sandbox image (faas/base) on first use, as the runtime images are; any
   * other image must already be in the engine (no registry is reachable to pull it).
   */
  async ensureImage(image: string): Promise<void> {
    if (image !== baseImageTag() || this.#options.buildImages === false) return;
    await this.#ensureStarted();
    try {
      await this.#imageTags();
    } catch (err) {
      throw new FaasError(
        ErrorCode.RUNTIME_UNAVAILABLE,
        `Building the default image ${image} failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  async retire(name: string, version?: number): Promise<void> {
    const retiring: Promise<void>[] = [];
    for (const [key, pool] of this.#pools) {
      const [poolName, poolVersion] = splitKey(key);
      if (poolName === name && (version === undefined || poolVersion === version)) {
        this.#pools.delete(key);
        retiring.push(pool.retire());
      }
    }
    await Promise.all(retiring);
  }

  /**
   * Removes the code folders of this host no version names (`named`) and the installed
   * dependencies and go builds nothing used, all older than `before` (the BlobCollector's grace
   * period). Resolves to how many folders and trees went.
   */
  async collectCode(
    named: (sha256s: readonly string[]) => Promise<Set<string>>,
    before: number,
  ): Promise<number> {
    const folders = await this.#code.collect(named, before);
    return folders + (await this.#installer.collect(before)) + (await this.#goBuilds.collect(before));
  }

  stats(): RuntimeStats {
    let warm = 0;
    let busy = 0;
    const byVersion: Record<string, number> = {};
    const idleByVersion: Record<string, number> = {};
    for (const [key, pool] of this.#pools) {
      warm += pool.warm;
      busy += pool.busy;
      if (pool.warm > 0) byVersion[key] = pool.warm;
      if (pool.warm > pool.busy) idleByVersion[key] = pool.warm - pool.busy;
    }
    return { warm, busy, byVersion, idleByVersion };
  }

  /** The containers it holds now, by isolation and role (`faas_containers`). */
  containers(): ContainerTally {
    const tally = new ContainerTally();
    this.#agents.countContainers(tally);
    for (const pool of this.#pools.values()) {
      tally.add(pool.isolation, 'busy', pool.busy);
      tally.add(pool.isolation, 'idle', pool.warm - pool.busy);
    }
    this.sandboxes.countContainers(tally);
    this.instances.countContainers(tally);
    return tally;
  }

  /** Resolves when no spare or sandbox container is being started (for tests and benchmarks). */
  async settled(): Promise<void> {
    await this.#agents.settled();
    await this.sandboxes.settled();
    await this.instances.settled();
    await this.#removals.drain();
  }

  /**
   * Containers this runtime holds (warm, spare, pre-started sandboxes, instances). After `settled()`, the
   * engine has exactly this many containers labelled with `ownerId`: anything more is a leak.
   */
  trackedContainers(): number {
    let count = this.sandboxes.readyCount;
    for (const pool of this.#pools.values()) count += pool.warm;
    count += this.#agents.spareCount;
    return count + this.instances.count;
  }

  /** Starts the spare containers of node and python now instead of on first use. */
  async warmUp(): Promise<void> {
    await this.#ensureStarted();
    await this.#imageTags();
    this.#agents.warmUp();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweeper);
    clearInterval(this.#instanceSweeper);
    this.#egress.close();
    const instances = this.instances.close();
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all([
      ...pools.map((p) => p.close()),
      this.#agents.close(),
      this.sandboxes.close(),
      instances,
    ]);
    await this.#removals.drain();
    await this.#caches.close();
  }

  /** Once per process: the engine answers, and orphans of a crashed run with this data dir are gone. */
  #ensureStarted(): Promise<void> {
    if (this.#closed)
      return Promise.reject(new FaasError(ErrorCode.RUNTIME_UNAVAILABLE, 'The container runtime is closed'));
    this.#started ??= (async () => {
      const ping = await pingEngine(this.docker);
      if (!ping.ok) throw new FaasError(ErrorCode.RUNTIME_UNAVAILABLE, ping.reason);
      await mkdir(join(this.#dataDir, 's'), { recursive: true });
      const removed = await removeOwnedContainers(this.docker, this.#ownerId, [INSTANCE_ROLE]);
      if (removed > 0) this.#logger.warn(`removed ${removed} orphaned container(s) of a previous run`);
      // The egress firewall goes in at start, not at the first network sandbox; a server that
      // cannot install it still runs, and refuses containers with network.
      this.#egress
        .install()
        .catch((err) => this.#logger.warn(`network sandboxes will be refused: ${(err as Error).message}`));
    })();
    this.#started.catch(() => {
      this.#started = undefined;
    });
    return this.#started;
  }

  /** The runtime images; `onProgress` hears when a build starts, whichever caller started it. */
  async #runtimeImages(onProgress?: (message: string) => void): Promise<RuntimeImageTags> {
    if (!onProgress) return this.#imageTags();
    this.#imageListeners.add(onProgress);
    try {
      return await this.#imageTags();
    } finally {
      this.#imageListeners.delete(onProgress);
    }
  }

  #imageTags(): Promise<RuntimeImageTags> {
    this.#images ??= buildRuntimeImages({
      docker: this.docker,
      cacheDir: this.#options.imageCacheDir ?? join(this.#dataDir, 'images'),
      onProgress: (event) => {
        if (event.phase === 'start' || event.phase === 'done')
          this.#logger.info(`runtime images: ${event.message}`);
        if (event.phase === 'start') for (const listener of this.#imageListeners) listener(event.message);
      },
      ...(this.#options.buildImages === false ? { buildMissing: false } : {}),
    });
    this.#images.catch((err) => {
      this.#images = undefined;
      this.#logger.error('building the runtime images failed', err);
    });
    return this.#images;
  }

  /** The go image, built on the first go function; `onProgress` hears when this call starts the build. */
  #goImageTag(onProgress?: (message: string) => void): Promise<string> {
    this.#goImage ??= buildGoImage({
      docker: this.docker,
      cacheDir: this.#options.imageCacheDir ?? join(this.#dataDir, 'images'),
      onProgress: (event) => {
        if (event.phase === 'start' || event.phase === 'done')
          this.#logger.info(`runtime images: ${event.message}`);
        if (event.phase === 'start') onProgress?.(event.message);
      },
      ...(this.#options.buildImages === false ? { buildMissing: false } : {}),
    });
    this.#goImage.catch((err) => {
      this.#goImage = undefined;
      this.#logger.error('building the go runtime image failed', err);
    });
    return this.#goImage;
  }

  #pool(fn: FunctionVersion): VersionPool {
    const key = `${fn.name}:${fn.version}`;
    const fingerprint = loadedWith(fn);
    let pool = this.#pools.get(key);
    if (pool && pool.fingerprint !== fingerprint) {
      // Another version under the same number (a deploy refused after preparing, a function
      // deleted and made again elsewhere): its containers must not serve this one.
      this.#pools.delete(key);
      this.#removals.add(pool.retire());
      pool = undefined;
    }
    if (!pool) {
      pool = new VersionPool(key, fingerprint, this.#removals, fn.isolation ?? 'runc');
      this.#pools.set(key, pool);
    }
    return pool;
  }

  #sweepIdle(): void {
    const cutoff = Date.now() - this.#options.idleTimeoutMs;
    for (const [key, pool] of this.#pools) {
      pool.sweepIdle(cutoff);
      if (pool.empty) this.#pools.delete(key);
    }
    this.sandboxes.sweepIdle(cutoff);
  }
}

/** Resolves at the request's deadline ('timeout') or when its signal aborts ('abort'). */
function stopOf(request: InvokeRequest): { reached: Promise<'timeout' | 'abort'>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const reached = new Promise<'timeout' | 'abort'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(0, request.deadline - Date.now()));
    onAbort = () => resolve('abort');
    if (request.signal?.aborted) onAbort();
    else request.signal?.addEventListener('abort', onAbort, { once: true });
  });
  return {
    reached,
    cancel: () => {
      clearTimeout(timer);
      if (onAbort) request.signal?.removeEventListener('abort', onAbort);
    },
  };
}

/**
 * A handler that does not load, as the deploy's answer: where (`file:line:column` in the
 * function's code, when the agent could tell) and why.
 */
function loadRefusal(error: AgentError): FaasError {
  const where = error.file
    ? `${error.file}${error.line ? `:${error.line}${error.column ? `:${error.column}` : ''}` : ''}: `
    : '';
  const problem = {
    ...(error.file ? { file: error.file } : {}),
    ...(error.line ? { line: error.line } : {}),
    ...(error.column ? { column: error.column } : {}),
    type: error.type,
    message: error.message,
    ...(error.stack ? { stack: error.stack } : {}),
  };
  return new FaasError(
    ErrorCode.COMPILE_ERROR,
    `The handler did not load: ${where}${error.type}: ${error.message}`,
    { details: [problem] },
  );
}

/** What a loaded container depends on: two versions that differ here cannot share containers. */
function loadedWith(fn: FunctionVersion): string {
  return JSON.stringify([
    fn.runtime,
    fn.handler,
    fn.env,
    fn.memoryMb,
    fn.timeoutMs,
    fn.network ?? false,
    fn.isolation ?? 'runc',
    fn.codeSha256,
    fn.artifactSha256,
    fn.image ?? null,
    fn.command ?? null,
  ]);
}

function splitKey(key: string): [string, number] {
  const at = key.lastIndexOf(':');
  return [key.slice(0, at), Number(key.slice(at + 1))];
}

function unavailable(err: unknown): FaasError {
  if (err instanceof FaasError) return err;
  return new FaasError(
    ErrorCode.RUNTIME_UNAVAILABLE,
    `The container runtime could not start a container: ${(err as Error).message}. If the engine is down, ${ENGINE_HINT}`,
    { cause: err },
  );
}

/** Makes the container runtime. It connects lazily: the server starts without an engine. */
export function createContainerRuntime(options: ContainerRuntimeOptions): ContainerRuntime {
  return new ContainerRuntime(options);
}
