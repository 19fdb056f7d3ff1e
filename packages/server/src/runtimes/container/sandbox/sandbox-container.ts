import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { MANAGED_LABEL, OWNER_LABEL, ROLE_LABEL, removeContainer } from '../container-labels.ts';
import {
  type ContainerLimits,
  hardenedHostConfig,
  SANDBOX_USER,
  updatableLimits,
} from '../container-limits.ts';
import { type CacheMounts, NO_CACHES } from '../dependency-caches.ts';
import { KILL_GRACE_MS } from '../instances/instance-exec.ts';
import type { EgressReady } from '../network/egress-network.ts';
import { oomKilledAfterExit } from '../oom-flag.ts';
import { ExitMarkerScanner, type FileFailure, StartLineScanner } from './exit-marker.ts';
import { BUSYBOX_MOUNT, SHIM_SCRIPT } from './sandbox-script.ts';

/** The working dir of sandbox commands: a tmpfs, like /tmp. */
export const SANDBOX_WORKDIR = '/workspace';

export interface StartSandboxOptions {
  docker: Docker;
  image: string;
  ownerId: string;
  limits: ContainerLimits;
  /** The project's dependency caches, mounted (DependencyCaches.prepare). */
  caches?: CacheMounts;
  /** The egress network, ready: required when `limits.network`. */
  egress?: EgressReady;
  busyboxPath: string;
}

export interface SandboxRun {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
  timedOut: boolean;
  oomKilled: boolean;
  /** From the job's arrival to the command's exit. */
  durationMs: number;
  /** An output stream passed `maxOutputBytes` and was cut. */
  truncated: boolean;
  /** A file of the job the script could not write: the command did not run. */
  fileFailure?: FileFailure;
}

export interface RunSandboxJob {
  line: string;
  /** The marker the job line's shim writes after the command (exit-marker.ts). */
  exitMarker: string;
  stdin?: Uint8Array | string;
  limits: ContainerLimits;
  timeoutMs: number;
  maxOutputBytes: number;
  signal?: AbortSignal;
  /**
   * Called with each piece of kept output as it arrives (streaming). A promise returned holds
   * the container's output back until it resolves (a slow reader).
   */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void | Promise<void>;
}

/**
 * The container ended without the shim reporting the command's exit: killed from outside (or its
 * engine went away), so there is no result to answer. `ranNothing`: the job's script never said
 * it started (startLine) and there is no output, as from a spare that was dead before the job
 * came; only then may the job run in another container.
 */
export class SandboxEnded extends Error {
  readonly ranNothing: boolean;

  constructor(ranNothing: boolean) {
    super('the sandbox container ended without reporting the exit of the command');
    this.ranNothing = ranNothing;
  }
}

/**
 * A started container whose shim waits for one job on stdin. Used once: after the job it is
 * removed (ephemeral), so no state leaks from one run to the next.
 */
export class SandboxContainer {
  readonly id: string;
  readonly createdAt = Date.now();
  #docker: Docker;
  #stream: Duplex;
  #limits: ContainerLimits;
  #ended: Promise<void>;
  #stdout: Buffer[] = [];
  #stderr: Buffer[] = [];
  #outputBytes = 0;
  #maxOutputBytes = Number.POSITIVE_INFINITY;
  #truncated = false;
  #used = false;
  #onOutput: RunSandboxJob['onOutput'];
  #scanners: Record<'stdout' | 'stderr', ExitMarkerScanner> | undefined;
  /** Whether the job reached the container: its script's first line on stderr (or a file failure). */
  #startLine: StartLineScanner | undefined;
  #markersSeen: (code: number) => void = () => {};
  /** Promises of onOutput not yet resolved: the output stream is paused while there are any. */
  #awaitedOutput = 0;
  #hasEnded = false;

  private constructor(docker: Docker, id: string, stream: Duplex, limits: ContainerLimits) {
    this.#docker = docker;
    this.id = id;
    this.#stream = stream;
    this.#limits = limits;
    let pending: Buffer = Buffer.alloc(0);
    // Without a TTY the attach stream frames output: 1 byte stream, 3 zero, 4 bytes size, data.
    stream.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 8) {
        const size = pending.readUInt32BE(4);
        if (pending.length < 8 + size) break;
        this.#receive(pending[0] === 2 ? 'stderr' : 'stdout', pending.subarray(8, 8 + size));
        pending = pending.subarray(8 + size);
      }
    });
    this.#ended = new Promise((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });
    void this.#ended.then(() => {
      this.#hasEnded = true;
      const afterStart = this.#startLine?.flush();
      if (afterStart?.length) this.#receive('stderr', afterStart);
      for (const name of ['stdout', 'stderr'] as const) {
        const held = this.#scanners?.[name].flush();
        if (held?.length) this.#collect(name, held);
      }
    });
  }

  static async start(options: StartSandboxOptions): Promise<SandboxContainer> {
    const { docker } = options;
    const caches = options.caches ?? NO_CACHES;
    const container = await docker.createContainer({
      Image: options.image,
      Entrypoint: [BUSYBOX_MOUNT, 'sh', '-c', SHIM_SCRIPT],
      Cmd: [],
      User: SANDBOX_USER,
      Env: ['HOME=/tmp', ...caches.env],
      OpenStdin: true,
      StdinOnce: true,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      Labels: { [MANAGED_LABEL]: 'true', [OWNER_LABEL]: options.ownerId, [ROLE_LABEL]: 'sandbox' },
      HostConfig: {
        ...hardenedHostConfig(
          options.limits,
          [`${options.busyboxPath}:${BUSYBOX_MOUNT}:ro`, ...caches.binds],
          options.egress ? { egress: options.egress } : {},
        ),
        Tmpfs: {
          '/tmp': `rw,nosuid,nodev,size=${options.limits.tmpMb ?? 64}m,mode=1777`,
          [SANDBOX_WORKDIR]: `rw,nosuid,nodev,size=${options.limits.tmpMb ?? 64}m,mode=1777`,
        },
      },
      StopTimeout: 1,
    });
    try {
      // Attached before start, so not a byte of output is missed.
      const stream = (await container.attach({
        stream: true,
        stdin: true,
        stdout: true,
        stderr: true,
        hijack: true,
      })) as unknown as Duplex;
      await container.start();
      return new SandboxContainer(docker, container.id, stream, options.limits);
    } catch (err) {
      await removeContainer(docker, container.id).catch(() => {});
      throw err;
    }
  }

  /** Its attach stream ended: the container is gone or going, no job can run in it. */
  get ended(): boolean {
    return this.#hasEnded;
  }

  /**
   * Runs the job: writes it and stdin, waits for the exit or kills at the timeout.
   * @throws SandboxEnded when the container ended without the exit of the command, unless by the
   *   memory limit (that is the command's result).
   */
  async run(job: RunSandboxJob): Promise<SandboxRun> {
    if (this.#used) throw new Error('A sandbox container runs one job');
    this.#used = true;
    this.#maxOutputBytes = job.maxOutputBytes;
    this.#onOutput = job.onOutput;
    const wanted = updatableLimits(job.limits);
    const current = updatableLimits(this.#limits);
    if (
      wanted.Memory !== current.Memory ||
      wanted.NanoCpus !== current.NanoCpus ||
      wanted.PidsLimit !== current.PidsLimit
    ) {
      await this.#docker.getContainer(this.id).update(wanted);
    }
    this.#scanners = {
      stdout: new ExitMarkerScanner(job.exitMarker),
      stderr: new ExitMarkerScanner(job.exitMarker),
    };
    this.#startLine = new StartLineScanner(job.exitMarker);
    const markers = new Promise<number>((resolve) => {
      this.#markersSeen = resolve;
    });
    const started = performance.now();
    this.#stream.write(job.line);
    if (job.stdin !== undefined && job.stdin.length > 0) this.#stream.write(job.stdin);
    // Half-close: with StdinOnce the engine closes the command's stdin.
    this.#stream.end();

    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const stopped = new Promise<'stop'>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true;
        resolve('stop');
      }, job.timeoutMs);
      onAbort = () => resolve('stop');
      if (job.signal?.aborted) onAbort();
      else job.signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const first = await Promise.race([markers, this.#ended.then(() => 'ended' as const), stopped]);
      // 137 may be the memory limit's kill, which only the engine can tell, once the container exits.
      if (typeof first === 'number' && first !== 137) {
        return this.#result(first, timedOut, false, performance.now() - started);
      }
      const container = this.#docker.getContainer(this.id);
      // The engine has the last word, but not past the deadline: a forged 137 marker from a
      // command that goes on running must not hold the run (or the caller) open.
      const exited = container.wait({ condition: 'not-running' }) as Promise<{ StatusCode: number }>;
      exited.catch(() => {});
      let exit = first === 'stop' ? undefined : await Promise.race([exited, stopped]);
      let killedByPlatform = false;
      if (exit === undefined || exit === 'stop') {
        killedByPlatform = true;
        const killed = container
          .kill({ signal: 'SIGKILL' })
          .catch(() => {})
          .then(() => exited);
        let grace: NodeJS.Timeout | undefined;
        const graceOver = new Promise<'grace over'>((resolve) => {
          grace = setTimeout(() => resolve('grace over'), KILL_GRACE_MS);
        });
        const killedExit = await Promise.race([killed, graceOver]).finally(() => clearTimeout(grace));
        if (killedExit === 'grace over') {
          // The engine did not finish the kill: the caller is answered, the container removed
          // (not waited for: an engine that hangs may hang that too).
          void removeContainer(this.#docker, this.id).catch(() => {});
          return this.#result(137, timedOut, false, performance.now() - started);
        }
        exit = killedExit;
      }
      const durationMs = performance.now() - started;
      const oomKilled = await oomKilledAfterExit(container, {
        exitCode: exit.StatusCode,
        killedByPlatform,
      });
      if (first === 'ended' && !killedByPlatform && !oomKilled) {
        throw new SandboxEnded(!this.#startLine.seen && this.#outputBytes === 0 && !this.#truncated);
      }
      return this.#result(exit.StatusCode, timedOut, oomKilled, durationMs);
    } finally {
      clearTimeout(timer);
      if (onAbort) job.signal?.removeEventListener('abort', onAbort);
    }
  }

  #result(exitCode: number, timedOut: boolean, oomKilled: boolean, durationMs: number): SandboxRun {
    return {
      stdout: Buffer.concat(this.#stdout),
      stderr: Buffer.concat(this.#stderr),
      exitCode,
      timedOut,
      oomKilled,
      durationMs,
      truncated: this.#truncated,
      ...(this.#startLine?.fileFailure ? { fileFailure: this.#startLine.fileFailure } : {}),
    };
  }

  async destroy(): Promise<void> {
    this.#stream.destroy();
    await removeContainer(this.#docker, this.id);
  }

  /** Output of the job: the shim's exit markers are taken out, the rest collected. */
  #receive(stream: 'stdout' | 'stderr', data: Buffer): void {
    const scanners = this.#scanners;
    if (!scanners) {
      this.#collect(stream, data);
      return;
    }
    const fresh = stream === 'stderr' ? this.#startLine?.push(data) : data;
    if (!fresh || fresh.length === 0) return;
    const output = scanners[stream].push(fresh);
    if (output.length > 0) this.#collect(stream, output);
    const { stdout, stderr } = scanners;
    if (stdout.code !== undefined && stderr.code !== undefined) this.#markersSeen(stdout.code);
  }

  #collect(stream: 'stdout' | 'stderr', data: Buffer): void {
    const room = this.#maxOutputBytes - this.#outputBytes;
    if (room <= 0) {
      this.#truncated = true;
      return;
    }
    const kept = data.length > room ? data.subarray(0, room) : data;
    if (kept.length < data.length) this.#truncated = true;
    const copy = Buffer.from(kept);
    (stream === 'stderr' ? this.#stderr : this.#stdout).push(copy);
    this.#outputBytes += kept.length;
    try {
      const taken = this.#onOutput?.(stream, copy);
      if (taken) this.#holdOutputUntil(taken);
    } catch {
      // A listener's failure must not break collecting the rest.
    }
  }

  /** The engine stops reading the command's output while the stream is paused. */
  #holdOutputUntil(taken: Promise<void>): void {
    this.#awaitedOutput += 1;
    this.#stream.pause();
    const resume = () => {
      this.#awaitedOutput -= 1;
      if (this.#awaitedOutput === 0) this.#stream.resume();
    };
    void taken.then(resume, resume);
  }
}
