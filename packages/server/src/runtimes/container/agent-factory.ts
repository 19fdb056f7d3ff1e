import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { FunctionVersion, InvocationError } from '@faas/core';
import type Docker from 'dockerode';
import { AgentGoneError, LoadTimeoutError } from './agent-channel.ts';
import { AgentContainer } from './agent-container.ts';
import type { CodeCache } from './code-cache.ts';
import type { ContainerLimits } from './container-limits.ts';
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
  readonly error: InvocationError;
  constructor(error: InvocationError) {
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
  imageTags: () => Promise<RuntimeImageTags>;
  /** The egress network for functions with `network: true`; refuses when it is not guarded. */
  egress: () => Promise<EgressReady>;
  onError: (message: string, err: unknown) => void;
}

export function limitsOf(fn: FunctionVersion): ContainerLimits {
  return { memoryMb: fn.memoryMb, network: fn.network ?? false, isolation: fn.isolation ?? 'runc' };
}

/** Makes node/python containers loaded with a version, from spares when one is ready. */
export class AgentFactory {
  #options: AgentFactoryOptions;
  #spares = new Map<string, SparePool>();

  constructor(options: AgentFactoryOptions) {
    this.#options = options;
  }

  /** Spares started and waiting. */
  get spareCount(): number {
    let count = 0;
    for (const pool of this.#spares.values()) count += pool.size;
    return count;
  }

  /** Starts the standard node and python spares now instead of on first use. */
  warmUp(): void {
    for (const runtime of ['node', 'python'] as const)
      this.#sparePool(runtime, { memoryMb: SPARE_MEMORY_MB }).refill();
  }

  /**
   * A container loaded with `fn`: a spare when one is ready, else a new one.
   * @throws LoadFailure when the handler does not load.
   */
  async loaded(fn: FunctionVersion): Promise<AgentContainer> {
    const runtime = fn.runtime === 'python' ? 'python' : 'node';
    const limits = limitsOf(fn);
    const [codeDir] = await Promise.all([
      this.#options.code.unpacked(fn.codeSha256),
      this.#options.imageTags(),
    ]);
    const container = this.#sparePool(runtime, limits).take() ?? (await this.#start(runtime, limits));
    try {
      const error = await container.assign(
        `${fn.name}:${fn.version}`,
        codeDir,
        limits,
        {
          handler: fn.handler,
          env: fn.env,
          fn: { name: fn.name, version: fn.version, memoryMb: fn.memoryMb, timeoutMs: fn.timeoutMs },
        },
        LOAD_TIMEOUT_MS,
      );
      if (error) throw new LoadFailure(error);
      return container;
    } catch (err) {
      // A handler whose loading never ends or kills the process is the function's fault too.
      if (err instanceof AgentGoneError) {
        const exit = await container.exitInfo();
        await container.destroy();
        throw new LoadFailure(
          exit.oomKilled
            ? {
                type: 'OutOfMemory',
                message: `Loading the handler exceeded the memory limit of ${fn.memoryMb} MB`,
              }
            : {
                type: 'ProcessExited',
                message: `The function's process exited while loading: ${exit.logTail.trim().slice(-500)}`,
              },
        );
      }
      await container.destroy();
      if (err instanceof LoadTimeoutError)
        throw new LoadFailure({ type: 'LoadTimeout', message: err.message });
      throw err;
    }
  }

  async settled(): Promise<void> {
    await Promise.all([...this.#spares.values()].map((s) => s.settled()));
  }

  async close(): Promise<void> {
    await Promise.all([...this.#spares.values()].map((s) => s.close()));
  }

  #sparePool(runtime: 'node' | 'python', limits: ContainerLimits): SparePool {
    const isolation = limits.isolation ?? 'runc';
    const key = `${runtime}/${isolation}/${limits.network ? 'net' : 'none'}`;
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

  async #start(runtime: 'node' | 'python', limits: ContainerLimits): Promise<AgentContainer> {
    const tags = await this.#options.imageTags();
    const egress = limits.network ? await this.#options.egress() : undefined;
    return AgentContainer.start({
      docker: this.#options.docker,
      image: tags[runtime],
      slotDir: join(this.#options.dataDir, 's', randomBytes(6).toString('hex')),
      ownerId: this.#options.ownerId,
      limits,
      ...(egress ? { egress } : {}),
      helloTimeoutMs: HELLO_TIMEOUT_MS,
    });
  }
}
