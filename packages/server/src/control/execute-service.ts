import { ErrorCode, FaasError } from '@faas/core';
import type { RuntimeRegistry } from '../data/runtime-registry.ts';
import { baseImageTag } from '../runtimes/container/images/base-image.ts';
import { ContainerRuntime, pingEngine, type SandboxResult } from '../runtimes/container/index.ts';
import { type ExecCache, execCacheKey } from './exec-cache.ts';

/** The execute API's modes (seed 004); only the first two run in this release. */
export const EXECUTE_MODES = ['ephemeral', 'cached', 'checkpointed', 'branched', 'persistent'] as const;
export type ExecuteMode = (typeof EXECUTE_MODES)[number];

export interface ExecuteRequest {
  /** A string runs with `sh -c`; an array is argv. */
  command: string | string[];
  /** @default the runtime's base image (`faas/base:<hash>`) */
  image?: string;
  env?: Record<string, string>;
  stdin?: string;
  /** Written before the command runs; relative paths are under /workspace, the working dir. */
  files?: Record<string, string>;
  timeoutMs?: number;
  memoryMb?: number;
  network?: boolean;
}

export interface ExecuteResult extends SandboxResult {
  mode: ExecuteMode;
  /** Cached mode: whether the result came from the cache. */
  cache?: 'hit' | 'miss';
}

export interface ExecuteOptions {
  /** Output as the container writes it (streaming); not called for a cache hit. */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  signal?: AbortSignal;
}

export interface ExecuteServiceOptions {
  runtimes: RuntimeRegistry;
  cache: ExecCache;
  /** How long an image tag → id lookup is trusted. @default 5000 */
  imageIdTtlMs?: number;
}

/** Runs commands in sandboxes for the execute API: ephemeral runs and cached results. */
export class ExecuteService {
  #runtimes: RuntimeRegistry;
  #cache: ExecCache;
  #imageIdTtlMs: number;
  #imageIds = new Map<string, { id: string; until: number }>();

  constructor(options: ExecuteServiceOptions) {
    this.#runtimes = options.runtimes;
    this.#cache = options.cache;
    this.#imageIdTtlMs = options.imageIdTtlMs ?? 5000;
  }

  /** The image a request without `image` runs in. */
  get defaultImage(): string {
    return baseImageTag();
  }

  /**
   * Runs the command in a fresh sandbox (`ephemeral`) or answers a stored result for the same
   * inputs (`cached`). Non-zero exits, timeouts and OOM kills are results, not errors.
   * @throws FaasError NOT_IMPLEMENTED for modes that need instances/snapshots; BAD_REQUEST for an
   *   image the engine does not have; RUNTIME_UNAVAILABLE without an engine.
   */
  async execute(
    request: ExecuteRequest,
    mode: ExecuteMode = 'ephemeral',
    options: ExecuteOptions = {},
  ): Promise<ExecuteResult> {
    switch (mode) {
      case 'ephemeral':
        return { ...(await this.#run(request, options)), mode };
      case 'cached':
        return this.#cached(request, options);
      case 'checkpointed':
      case 'branched':
      case 'persistent':
        throw new FaasError(
          ErrorCode.NOT_IMPLEMENTED,
          `Mode "${mode}" is not available yet: it comes with instances and snapshots (gVisor checkpoints); use "ephemeral" or "cached"`,
          { details: { mode, available: ['ephemeral', 'cached'] } },
        );
      default:
        throw new FaasError(ErrorCode.VALIDATION, `Unknown mode "${mode as string}"`);
    }
  }

  async #cached(request: ExecuteRequest, options: ExecuteOptions): Promise<ExecuteResult> {
    const image = request.image ?? this.defaultImage;
    const key = execCacheKey({
      imageId: await this.#imageId(image),
      command: argv(request.command),
      env: request.env ?? {},
      files: request.files ?? {},
      stdin: request.stdin ?? '',
    });
    const stored = await this.#cache.get(key);
    if (stored) return { ...stored, mode: 'cached', cache: 'hit' };
    const result = await this.#run(request, options);
    // A timed-out run says nothing about what the command produces.
    if (!result.timedOut) await this.#cache.set(key, result);
    return { ...result, mode: 'cached', cache: 'miss' };
  }

  #run(request: ExecuteRequest, options: ExecuteOptions): Promise<SandboxResult> {
    return this.#container().runInSandbox({
      image: request.image ?? this.defaultImage,
      command: argv(request.command),
      ...(request.env ? { env: request.env } : {}),
      ...(request.stdin !== undefined ? { stdin: request.stdin } : {}),
      ...(request.files ? { files: request.files } : {}),
      ...(request.timeoutMs !== undefined ? { timeoutMs: request.timeoutMs } : {}),
      ...(request.memoryMb !== undefined ? { memoryMb: request.memoryMb } : {}),
      ...(request.network !== undefined ? { network: request.network } : {}),
      ...(options.onOutput ? { onOutput: options.onOutput } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /** The image's content id, so a re-built tag does not answer the old image's results. */
  async #imageId(image: string): Promise<string> {
    const known = this.#imageIds.get(image);
    if (known && known.until > Date.now()) return known.id;
    const runtime = this.#container();
    let id: string;
    try {
      id = (await runtime.docker.getImage(image).inspect()).Id;
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (status === 404) {
        throw new FaasError(
          ErrorCode.BAD_REQUEST,
          `Image "${image}" is not in the local engine; no registry is reachable, so build or load it first`,
          { cause: err },
        );
      }
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

function argv(command: string | string[]): string[] {
  return typeof command === 'string' ? ['sh', '-c', command] : command;
}
