import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { FunctionVersion } from '@faas/core';
import { DEFAULT_PROJECT, shownName } from '@faas/core';
import type Docker from 'dockerode';
import { AgentFatalError, AgentGoneError, AgentProtocolError, LoadTimeoutError } from './agent-channel.ts';
import { AgentContainer } from './agent-container.ts';
import type { AgentError, AgentMessageLimits } from './agent-messages.ts';
import type { CodeCache } from './code-cache.ts';
import { type ContainerLimits, updatableLimits } from './container-limits.ts';
import type { ContainerIsolation, ContainerTally } from './container-roles.ts';
import type { GoBuilder } from './go-builder.ts';
import type { RuntimeImageTags } from './images/build-runtime-images.ts';
import type { EgressReady } from './network/egress-network.ts';
import type { PendingWork } from './pending-work.ts';
import { SparePool } from './spare-pool.ts';

const HELLO_TIMEOUT_MS = 30_000;
const LOAD_TIMEOUT_MS = 30_000;
/** Spares start with this memory limit; `assign` changes it when a version wants another. */
const SPARE_MEMORY_MB = 128;

/** A handler that failed to load: a function fault, reported as the invocation's error. */
export class LoadFailure extends Error {
  readonly error: AgentError;
  constructor(error: AgentError) {
    super(error.message);
    this.error = error;
  }
}

export interface AgentFactoryOptions {
  docker: Docker;
  dataDir: string;
  ownerId: string;
  code: CodeCache;
  removals: PendingWork;
  /** Spares kept per runtime image for runc without network; other kinds keep one once used. */
  sparesPerImage: number;
  /** The runtime images, built on first use; `onProgress` hears when a build starts. */
  imageTags: (onProgress?: (message: string) => void) => Promise<RuntimeImageTags>;
  /** The go image's tag, built on the first go function (it is large). */
  goImage: (onProgress?: (message: string) => void) => Promise<string>;
  /** Compiles go functions (their binary goes with their code). */
  goBuilds: GoBuilder;
  messageLimits: AgentMessageLimits;
  /** The egress network for functions with `network: true`; refuses when it is not guarded. */
  egress: () => Promise<EgressReady>;
  onError: (message: string, err: unknown) => void;
}

function closedError(): Error {
  return new Error('The container runtime is closed');
}

/** Which agent image runs a function. */
type AgentRuntime = 'node' | 'python' | 'go';

function agentRuntime(fn: FunctionVersion): AgentRuntime {
  return fn.runtime === 'python' || fn.runtime === 'go' ? fn.runtime : 'node';
}

export function limitsOf(fn: FunctionVersion): ContainerLimits {
  return { memoryMb: fn.memoryMb, network: fn.network ?? false, isolation: fn.isolation ?? 'runc' };
}

/** Makes node/python/go containers loaded with a version, from spares when one is ready. */
export class AgentFactory {
  #options: AgentFactoryOptions;
  #spares = new Map<string, SparePool>();
  /** Containers being given a version: no pool holds them yet. */
  #loading = new Map<AgentContainer, ContainerIsolation>();
  /** Containers of loads being started: settled() waits for them, so counts can be compared. */
  #starts = new Set<Promise<unknown>>();
  /** `loaded` calls under way, which close() waits for. */
  #inFlight = new Set<Promise<unknown>>();
  #closed = false;

  constructor(options: AgentFactoryOptions) {
    this.#options = options;
  }

  /** Spares started and waiting, and containers being loaded. */
  get spareCount(): number {
    let count = this.#loading.size;
    for (const pool of this.#spares.values()) count += pool.size;
    return count;
  }

  /** Counts its spares (`spare`) and the containers being loaded (`loading`) into `tally`. */
  countContainers(tally: ContainerTally): void {
    for (const [key, pool] of this.#spares) tally.add(isolationOfSpareKey(key), 'spare', pool.size);
    for (const isolation of this.#loading.values()) tally.add(isolation, 'loading');
  }

  /** Starts the standard node and python spares now instead of on first use. */
  warmUp(): void {
    if (this.#closed) return;
    for (const runtime of ['node', 'python'] as const)
      this.#sparePool(runtime, { memoryMb: SPARE_MEMORY_MB }).refill();
  }

  /**
   * A container loaded with `fn`: a spare when one is ready, else a new one. `onProgress` hears
   * of the slow steps (an image build, a dependency install).
   * @throws LoadFailure when the handler does not load.
   */
  loaded(fn: FunctionVersion, onProgress?: (message: string) => void): Promise<AgentContainer> {
    const work = this.#load(fn, onProgress);
    const tracked = work.catch(() => {});
    this.#inFlight.add(tracked);
    void tracked.then(() => this.#inFlight.delete(tracked));
    return work;
  }

  async #load(fn: FunctionVersion, onProgress?: (message: string) => void): Promise<AgentContainer> {
    const runtime = agentRuntime(fn);
    const limits = limitsOf(fn);
    // Images first: the dependency install (and the go build) runs in a container of the runtime's image.
    if (runtime === 'go') await this.#options.goImage(onProgress);
    else await this.#options.imageTags(onProgress);
    let codeDir = await this.#options.code.unpacked(
      { project: fn.project ?? DEFAULT_PROJECT, codeSha256: fn.codeSha256 },
      onProgress,
    );
    if (runtime === 'go') codeDir = await this.#options.goBuilds.built(codeDir, fn, onProgress);
    // Closed meanwhile: no container may start now, nothing would remove it (nor a spare pool's).
    if (this.#closed) throw closedError();
    const spare = spareFits(limits) ? this.#sparePool(runtime, limits).take() : undefined;
    const container = spare ?? (await this.#startTracked(runtime, limits));
    if (this.#closed) {
      await container.destroy();
      throw closedError();
    }
    this.#loading.set(container, limits.isolation ?? 'runc');
    try {
      const error = await container.assign(
        `${fn.name}:${fn.version}`,
        codeDir,
        limits,
        {
          handler: fn.handler,
          env: fn.env,
          // The function knows itself by the name its project gave it (not the stored name).
          fn: {
            name: shownName(fn.name),
            version: fn.version,
            memoryMb: fn.memoryMb,
            timeoutMs: fn.timeoutMs,
          },
        },
        LOAD_TIMEOUT_MS,
      );
      if (error) throw new LoadFailure(error);
      return container;
    } catch (err) {
      // A handler whose loading never ends or kills the process is the function's fault too.
      if (err instanceof AgentProtocolError) {
        await container.destroy();
        throw new LoadFailure({
          type: 'AgentProtocolError',
          message: `The function's container broke the agent protocol while loading (${err.message})`,
        });
      }
      if (err instanceof AgentFatalError && err.error.type !== 'ProcessExited') {
        // A crash while loading (a timer or a rejection of the module's top-level code).
        await container.destroy();
        throw new LoadFailure(err.error);
      }
      if (err instanceof AgentGoneError || err instanceof AgentFatalError) {
        const exit = await container.exitInfo();
        await container.destroy();
        const how = err instanceof AgentFatalError ? err.error.message : "The function's process exited";
        const tail = exit.logTail.trim().slice(-500);
        throw new LoadFailure(
          exit.oomKilled
            ? {
                type: 'OutOfMemory',
                message: `Loading the handler exceeded the memory limit of ${fn.memoryMb} MB`,
              }
            : { type: 'ProcessExited', message: `${how} while loading${tail ? `: ${tail}` : ''}` },
        );
      }
      await container.destroy();
      if (err instanceof LoadTimeoutError)
        throw new LoadFailure({ type: 'LoadTimeout', message: err.message });
      throw err;
    } finally {
      this.#loading.delete(container);
    }
  }

  async settled(): Promise<void> {
    await Promise.all([...this.#spares.values()].map((s) => s.settled()));
    await Promise.all(this.#starts);
  }

  /** Removes the spares and the containers still loading (their loads fail), once starts end. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([
      ...[...this.#spares.values()].map((s) => s.close()),
      ...[...this.#loading.keys()].map((c) => c.destroy()),
    ]);
    await Promise.all(this.#inFlight);
  }

  #sparePool(runtime: AgentRuntime, limits: ContainerLimits): SparePool {
    const isolation = limits.isolation ?? 'runc';
    const key = spareKey(runtime, isolation, limits.network === true);
    let pool = this.#spares.get(key);
    if (!pool) {
      const standard = !limits.network && isolation === 'runc';
      const spareLimits: ContainerLimits = { ...limits, memoryMb: SPARE_MEMORY_MB };
      pool = new SparePool(
        standard ? this.#options.sparesPerImage : 1,
        () => this.#start(runtime, spareLimits),
        this.#options.removals,
        (err) => this.#options.onError(`starting a spare ${runtime} container failed`, err),
      );
      this.#spares.set(key, pool);
    }
    return pool;
  }

  #startTracked(runtime: AgentRuntime, limits: ContainerLimits): Promise<AgentContainer> {
    const start = this.#start(runtime, limits);
    const tracked = start.catch(() => {});
    this.#starts.add(tracked);
    void tracked.then(() => this.#starts.delete(tracked));
    return start;
  }

  async #start(runtime: AgentRuntime, limits: ContainerLimits): Promise<AgentContainer> {
    const image =
      runtime === 'go' ? await this.#options.goImage() : (await this.#options.imageTags())[runtime];
    const egress = limits.network ? await this.#options.egress() : undefined;
    return AgentContainer.start({
      docker: this.#options.docker,
      image,
      slotDir: join(this.#options.dataDir, 's', randomBytes(6).toString('hex')),
      ownerId: this.#options.ownerId,
      limits,
      messageLimits: this.#options.messageLimits,
      ...(egress ? { egress } : {}),
      helloTimeoutMs: HELLO_TIMEOUT_MS,
      warn: (message, err) => this.#options.onError(`a ${runtime} container: ${message}`, err),
    });
  }
}

/**
 * Whether a spare (made with SPARE_MEMORY_MB) can take a function of these limits. runsc cannot
 * change a running container's limits (`docker update` fails under gVisor), so a gVisor function
 * of other limits gets a container of its own; under runc the spare's limits are updated.
 */
function spareFits(limits: ContainerLimits): boolean {
  if ((limits.isolation ?? 'runc') !== 'gvisor') return true;
  const spare = updatableLimits({ ...limits, memoryMb: SPARE_MEMORY_MB });
  const wanted = updatableLimits(limits);
  return (Object.keys(wanted) as Array<keyof typeof wanted>).every((k) => wanted[k] === spare[k]);
}

/** A spare pool's key: the containers of one runtime, isolation and network are interchangeable. */
function spareKey(runtime: AgentRuntime, isolation: ContainerIsolation, network: boolean): string {
  return `${runtime}/${isolation}/${network ? 'net' : 'none'}`;
}

function isolationOfSpareKey(key: string): ContainerIsolation {
  return key.split('/')[1] === 'gvisor' ? 'gvisor' : 'runc';
}
