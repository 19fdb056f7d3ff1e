import { PassThrough, type Readable } from 'node:stream';
import type Docker from 'dockerode';
import { MANAGED_LABEL, OWNER_LABEL, ROLE_LABEL, removeContainer } from './container-labels.ts';
import { type ContainerLimits, hardenedHostConfig, SANDBOX_USER } from './container-limits.ts';
import type { EgressReady } from './network/egress-network.ts';
import { oomKilledAfterExit } from './oom-flag.ts';

export const INSTALL_ROLE = 'install';

export interface InstallRunOptions {
  docker: Docker;
  ownerId: string;
  image: string;
  /** A `sh -c` script: its stdout is the result (a tar), its stderr the log. */
  script: string;
  env: string[];
  /** Read-only inputs; the container writes nowhere on the host. */
  binds: string[];
  limits: ContainerLimits;
  /** The egress network, ready: required when `limits.network`. */
  egress?: EgressReady;
  /** tmpfs mounts (path → size in MB): where the install writes. */
  tmpfsMb: Record<string, number>;
  timeoutMs: number;
  /** Past this much stdout the container is killed. */
  maxOutputBytes: number;
  /** Gets the stdout stream as soon as the container starts. */
  onOutput: (stdout: Readable) => void;
}

export interface InstallRun {
  exitCode: number | undefined;
  timedOut: boolean;
  oomKilled: boolean;
  outputTooLarge: boolean;
  /** The last few KiB of stderr. */
  stderrTail: string;
}

const STDERR_TAIL_CHARS = 4000;

/**
 * Runs one install (npm, pip) in a fresh hardened container of a runtime image: non-root, no
 * capabilities, no-new-privileges, memory/CPU/pids limits, read-only root with size-limited
 * tmpfs for its work, outbound network only as `network: true` containers get it, and a
 * deadline. Nothing of the host is writable from it: the result comes out as its stdout, which
 * the caller unpacks with limits. The container is removed after.
 */
export async function runInstallContainer(options: InstallRunOptions): Promise<InstallRun> {
  const { docker } = options;
  const hardened = hardenedHostConfig(
    options.limits,
    options.binds,
    options.egress ? { egress: options.egress } : {},
  );
  const container = await docker.createContainer({
    Image: options.image,
    User: SANDBOX_USER,
    Entrypoint: ['/bin/sh', '-c', options.script],
    Cmd: [],
    WorkingDir: '/tmp',
    Env: options.env,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    Labels: { [MANAGED_LABEL]: 'true', [OWNER_LABEL]: options.ownerId, [ROLE_LABEL]: INSTALL_ROLE },
    HostConfig: {
      ...hardened,
      Tmpfs: Object.fromEntries(
        Object.entries(options.tmpfsMb).map(([path, mb]) => [path, `rw,nosuid,nodev,size=${mb}m,mode=1777`]),
      ),
    },
  });
  let stderrTail = '';
  let outputBytes = 0;
  let outputTooLarge = false;
  let timedOut = false;
  const kill = () => container.kill().catch(() => {});
  try {
    const stream = (await container.attach({
      stream: true,
      stdout: true,
      stderr: true,
    })) as unknown as Readable;
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    stdout.on('data', (chunk: Buffer) => {
      outputBytes += chunk.length;
      if (outputBytes > options.maxOutputBytes && !outputTooLarge) {
        outputTooLarge = true;
        void kill();
      }
    });
    stderr.on('data', (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_CHARS);
    });
    stream.on('end', () => {
      stdout.end();
      stderr.end();
    });
    stream.on('error', (err) => stdout.destroy(err));
    docker.modem.demuxStream(stream, stdout, stderr);
    options.onOutput(stdout);
    const exited = container.wait({ condition: 'next-exit' }) as Promise<{ StatusCode: number }>;
    // A start that fails leaves this wait to fail too, after the container is removed.
    exited.catch(() => {});
    await container.start();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), options.timeoutMs);
    });
    const ended = await Promise.race([exited, deadline]);
    clearTimeout(timer);
    if (ended === 'timeout') {
      timedOut = true;
      await kill();
    }
    const info = await container.inspect();
    return {
      exitCode: timedOut ? undefined : info.State.ExitCode,
      timedOut,
      oomKilled: await oomKilledAfterExit(container, {
        exitCode: info.State.ExitCode,
        killedByPlatform: timedOut || outputTooLarge,
      }),
      outputTooLarge,
      stderrTail,
    };
  } finally {
    await removeContainer(docker, container.id).catch(() => {});
  }
}
