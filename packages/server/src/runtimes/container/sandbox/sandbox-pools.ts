import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import {
  DEFAULT_PROJECT,
  type DependencyCache,
  ErrorCode,
  FaasError,
  fileNotWritten,
  isFaasError,
  refusedBeforeStart,
} from '@faas/core';
import type Docker from 'dockerode';
import type { ContainerLimits } from '../container-limits.ts';
import type { ContainerIsolation, ContainerTally } from '../container-roles.ts';
import type { CacheMounts } from '../dependency-caches.ts';
import { engineStatus, missingImageError, pingEngine } from '../docker-engine.ts';
import type { EgressReady } from '../network/egress-network.ts';
import { newExitMarker } from './exit-marker.ts';
import {
  type RunSandboxJob,
  SANDBOX_WORKDIR,
  SandboxContainer,
  SandboxEnded,
  type SandboxRun,
} from './sandbox-container.ts';
import { jobLine } from './sandbox-script.ts';

/** Where Debian's busybox-static puts its binary (scripts/install-engine.sh installs it). */
export const DEFAULT_BUSYBOX_PATH = '/bin/busybox';

export interface SandboxRequest {
  /** A local image (no registry is reachable). */
  image: string;
  /**
   * A string runs with the image's `/bin/sh -c`; an array is argv, its first word found on the
   * image's PATH. BusyBox stands in only in images without `/bin/sh` (sandbox-script.ts).
   */
  command: string | string[];
  /** Whose run this is: it picks the dependency caches. @default DEFAULT_PROJECT */
  project?: string;
  env?: Record<string, string>;
  stdin?: Uint8Array | string;
  /** Written before the command runs; relative paths are under /workspace (a tmpfs, the cwd). */
  files?: Record<string, string | Uint8Array>;
  /** @default SANDBOX_DEFAULTS.timeoutMs */
  timeoutMs?: number;
  /** @default SANDBOX_DEFAULTS.memoryMb */
  memoryMb?: number;
  /** @default SANDBOX_DEFAULTS.cpus */
  cpus?: number;
  /** Outbound network, egress-only (network/egress-network.ts). @default false */
  network?: boolean;
  isolation?: 'runc' | 'gvisor';
  /** The project's package caches to mount (see dependency-caches.ts). */
  dependencyCaches?: DependencyCache[];
  /** Where the command runs. @default '/workspace'; `null`: the image's own working dir */
  workdir?: string | null;
  /** stdout + stderr kept; the rest is dropped and `truncated` set. @default 10 MiB */
  maxOutputBytes?: number;
  signal?: AbortSignal;
  /**
   * Called with each piece of kept output as the container writes it, before the run ends (the
   * result still holds all of it). Frames can split multi-byte characters: decode per stream.
   * A promise returned holds the output back until it resolves.
   */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void | Promise<void>;
}

export interface SandboxResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  durationMs: number;
  timedOut: boolean;
  oomKilled: boolean;
  truncated: boolean;
}

interface PoolEntry {
  ready: SandboxContainer[];
  starting: number;
  lastUsedAt: number;
  image: string;
  limits: ContainerLimits;
  project: string;
  caches: DependencyCache[];
}

export interface SandboxPoolsOptions {
  docker: Docker;
  ownerId: string;
  /** Pre-started containers kept per (image, isolation, network, project's caches) in use. */
  spares: number;
  idleTimeoutMs: number;
  busyboxPath?: string;
  /** The egress network for runs with network; refuses when it is not guarded. */
  egress: () => Promise<EgressReady>;
  /** Mounts a project's dependency caches. */
  caches: (project: string, caches: DependencyCache[]) => Promise<CacheMounts>;
  onError: (err: unknown) => void;
}

/** A run's limits when the request does not say (the execute cache key counts them). */
export const SANDBOX_DEFAULTS = { memoryMb: 256, cpus: 1, timeoutMs: 30_000 } as const;

/**
 * Runs commands in fresh containers, each used once. Containers are started ahead of need, per
 * image in use, with a shim that waits for the job, so a run skips `docker create` and start.
 */
export class SandboxPools {
  #options: SandboxPoolsOptions;
  #pools = new Map<string, PoolEntry>();
  #removals = new Set<Promise<void>>();
  /** Containers running a job, by isolation. */
  #running = new Map<ContainerIsolation, number>();
  #closed = false;

  constructor(options: SandboxPoolsOptions) {
    this.#options = options;
  }

  /**
   * Runs a command in a fresh container from the pool and removes the container after.
   * @throws FaasError BAD_REQUEST for a missing image; VALIDATION for a bad request or a file
   *   the sandbox could not write; RUNTIME_UNAVAILABLE when the engine fails.
   */
  async run(request: SandboxRequest): Promise<SandboxResult> {
    if (this.#closed) {
      throw refusedBeforeStart(
        new FaasError(ErrorCode.RUNTIME_UNAVAILABLE, 'The container runtime is closed'),
      );
    }
    this.#needBusybox();
    const limits: ContainerLimits = {
      memoryMb: request.memoryMb ?? SANDBOX_DEFAULTS.memoryMb,
      cpus: request.cpus ?? SANDBOX_DEFAULTS.cpus,
      network: request.network ?? false,
      isolation: request.isolation ?? 'runc',
    };
    // The engine refuses more CPUs than the host has: that is the request's fault, not a 503.
    if ((limits.cpus ?? 1) > availableParallelism()) {
      throw new FaasError(
        ErrorCode.VALIDATION,
        `cpus must be at most ${availableParallelism()}, the CPUs of this host`,
      );
    }
    // Checked at each run, not only when the spare was made: rules a flush removed since are
    // put back first, or the run is refused.
    if (limits.network) await this.#options.egress();
    const exitMarker = newExitMarker();
    const line = jobLine({
      exitMarker,
      command: request.command,
      env: request.env ?? {},
      files: request.files ?? {},
      ...(request.workdir === null ? {} : { workdir: request.workdir ?? SANDBOX_WORKDIR }),
    });
    const entry = this.#entry(
      request.image,
      limits,
      request.project ?? DEFAULT_PROJECT,
      [...new Set(request.dependencyCaches ?? [])].sort(),
    );
    entry.lastUsedAt = Date.now();
    const spare = this.#takeSpare(entry);
    let container = spare ?? (await this.#start(entry));
    this.#refill(entry);
    const isolation = limits.isolation ?? 'runc';
    this.#running.set(isolation, (this.#running.get(isolation) ?? 0) + 1);
    const job: RunSandboxJob = {
      line,
      exitMarker,
      ...(request.stdin === undefined ? {} : { stdin: request.stdin }),
      limits,
      timeoutMs: request.timeoutMs ?? SANDBOX_DEFAULTS.timeoutMs,
      maxOutputBytes: request.maxOutputBytes ?? 10 * 1024 * 1024,
      ...(request.signal ? { signal: request.signal } : {}),
      ...(request.onOutput ? { onOutput: request.onOutput } : {}),
    };
    try {
      let run: SandboxRun;
      try {
        run = await container.run(job);
      } catch (err) {
        // A spare that died before its end was seen ran nothing: a fresh container runs the job.
        if (!(err instanceof SandboxEnded && err.ranNothing && container === spare)) throw err;
        this.#remove(container);
        container = await this.#start(entry);
        run = await container.run(job);
      }
      if (run.fileFailure) {
        const path = Object.keys(request.files ?? {})[run.fileFailure.index];
        if (path !== undefined) throw fileNotWritten(path, run.fileFailure.reason);
      }
      return {
        stdout: run.stdout.toString('utf8'),
        stderr: run.stderr.toString('utf8'),
        exitCode: run.exitCode,
        durationMs: run.durationMs,
        timedOut: run.timedOut,
        oomKilled: run.oomKilled,
        truncated: run.truncated,
      };
    } catch (err) {
      if (isFaasError(err)) throw err;
      throw new FaasError(ErrorCode.RUNTIME_UNAVAILABLE, `The sandbox failed: ${(err as Error).message}`, {
        cause: err,
      });
    } finally {
      this.#running.set(isolation, (this.#running.get(isolation) ?? 1) - 1);
      this.#remove(container);
    }
  }

  /** Counts its pre-started containers (`sandbox_spare`) and running ones (`sandbox_busy`). */
  countContainers(tally: ContainerTally): void {
    for (const entry of this.#pools.values())
      tally.add(entry.limits.isolation, 'sandbox_spare', entry.ready.length);
    for (const [isolation, count] of this.#running) tally.add(isolation, 'sandbox_busy', count);
  }

  /** Pre-started containers waiting for a job. */
  get readyCount(): number {
    let count = 0;
    for (const entry of this.#pools.values()) count += entry.ready.length;
    return count;
  }

  /**
   * What every run of `network` needs from this host, checked now: an image function is refused
   * at deploy rather than failing at each call.
   * @throws FaasError RUNTIME_UNAVAILABLE without busybox, NETWORK_UNAVAILABLE without the egress
   *   firewall
   */
  async checkHost(network: boolean): Promise<void> {
    this.#needBusybox();
    if (network) await this.#options.egress();
  }

  #needBusybox(): void {
    const busybox = this.#options.busyboxPath ?? DEFAULT_BUSYBOX_PATH;
    if (!existsSync(busybox)) {
      throw refusedBeforeStart(
        new FaasError(
          ErrorCode.RUNTIME_UNAVAILABLE,
          `Sandboxes need a static busybox at ${busybox}: run scripts/install-engine.sh as root`,
        ),
      );
    }
  }

  /**
   * Whether the engine has the image; the pool never pulls.
   * @throws FaasError RUNTIME_UNAVAILABLE when the engine cannot say
   */
  async hasImage(image: string): Promise<boolean> {
    try {
      await this.#options.docker.getImage(image).inspect();
      return true;
    } catch (err) {
      if (engineStatus(err) === 404) return false;
      const ping = await pingEngine(this.#options.docker);
      throw new FaasError(
        ErrorCode.RUNTIME_UNAVAILABLE,
        ping.ok ? `Inspecting image "${image}" failed: ${(err as Error).message}` : ping.reason,
        { cause: err },
      );
    }
  }

  /** Resolves when no container is starting or being removed. */
  async settled(): Promise<void> {
    for (;;) {
      const starting = [...this.#pools.values()].some((p) => p.starting > 0);
      if (!starting && this.#removals.size === 0) return;
      await Promise.all([...this.#removals]);
      if (starting) await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Drops the spares of images unused since `cutoff`. */
  sweepIdle(cutoff: number): void {
    for (const [key, entry] of this.#pools) {
      if (entry.lastUsedAt >= cutoff || entry.starting > 0) continue;
      this.#pools.delete(key);
      for (const container of entry.ready.splice(0)) this.#remove(container);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.settled();
    for (const entry of this.#pools.values())
      for (const container of entry.ready.splice(0)) this.#remove(container);
    this.#pools.clear();
    await Promise.all([...this.#removals]);
  }

  #entry(image: string, limits: ContainerLimits, project: string, caches: DependencyCache[]): PoolEntry {
    const key = poolKey(image, limits, project, caches);
    let entry = this.#pools.get(key);
    if (!entry) {
      entry = { ready: [], starting: 0, lastUsedAt: Date.now(), image, limits, project, caches };
      this.#pools.set(key, entry);
    }
    return entry;
  }

  /** A pre-started container still alive; dead ones (killed from outside) are removed. */
  #takeSpare(entry: PoolEntry): SandboxContainer | undefined {
    for (let container = entry.ready.shift(); container; container = entry.ready.shift()) {
      if (!container.ended) return container;
      this.#remove(container);
    }
    return undefined;
  }

  async #start(entry: PoolEntry): Promise<SandboxContainer> {
    try {
      const egress = entry.limits.network ? await this.#options.egress() : undefined;
      const caches =
        entry.caches.length > 0 ? await this.#options.caches(entry.project, entry.caches) : undefined;
      return await SandboxContainer.start({
        docker: this.#options.docker,
        image: entry.image,
        ownerId: this.#options.ownerId,
        limits: entry.limits,
        ...(caches ? { caches } : {}),
        ...(egress ? { egress } : {}),
        busyboxPath: this.#options.busyboxPath ?? DEFAULT_BUSYBOX_PATH,
      });
    } catch (err) {
      // No container, so no job was handed to one: a refusal.
      if (isFaasError(err)) throw refusedBeforeStart(err);
      if (engineStatus(err) === 404) {
        throw refusedBeforeStart(missingImageError(entry.image, err));
      }
      throw refusedBeforeStart(
        new FaasError(ErrorCode.RUNTIME_UNAVAILABLE, `Could not start a sandbox: ${(err as Error).message}`, {
          cause: err,
        }),
      );
    }
  }

  #refill(entry: PoolEntry): void {
    if (this.#closed || entry.starting > 0 || entry.ready.length >= this.#options.spares) return;
    entry.starting += 1;
    this.#start(entry).then(
      (container) => {
        entry.starting -= 1;
        if (
          this.#closed ||
          !this.#pools.has(poolKey(entry.image, entry.limits, entry.project, entry.caches))
        ) {
          this.#remove(container);
          return;
        }
        entry.ready.push(container);
        this.#refill(entry);
      },
      (err) => {
        // No retry loop: the next run tries again.
        entry.starting -= 1;
        this.#options.onError(err);
      },
    );
  }

  #remove(container: SandboxContainer): void {
    const removal = container.destroy().catch((err) => this.#options.onError(err));
    this.#removals.add(removal);
    void removal.finally(() => this.#removals.delete(removal));
  }
}

/**
 * What a pre-started container is made with. Its mounts are its project's caches, so with caches
 * the project is part of the key; without, projects share spares (nothing in them is a project's).
 */
function poolKey(image: string, limits: ContainerLimits, project: string, caches: DependencyCache[]): string {
  const owner = caches.length > 0 ? project : '';
  return JSON.stringify([image, limits.isolation ?? 'runc', limits.network ? 'net' : 'none', owner, caches]);
}
