import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { AgentChannel, type LoadRequest } from './agent-channel.ts';
import type { AgentError, AgentMessageLimits } from './agent-messages.ts';
import { CgroupMetrics } from './cgroup-metrics.ts';
import { linkTree } from './code-cache.ts';
import { MANAGED_LABEL, OWNER_LABEL, ROLE_LABEL, removeContainer } from './container-labels.ts';
import {
  type ContainerLimits,
  hardenedHostConfig,
  SANDBOX_USER,
  updatableLimits,
} from './container-limits.ts';
import type { EgressReady } from './network/egress-network.ts';
import { oomKilledAfterExit } from './oom-flag.ts';

/** Where the container's folder is mounted, and where the agent finds its socket and code. */
const MOUNT = '/faas';

/**
 * The agent's own uid:gid, not the function's (SANDBOX_USER): the host's socket is this uid's
 * alone, so the function's process cannot connect to it.
 */
export const AGENT_USER = '65533:65533';

/**
 * The agent starts as root with these two capabilities only, to start the function's process
 * under SANDBOX_USER and then drop to AGENT_USER; neither process holds any capability after.
 */
const AGENT_CAPABILITIES = ['SETUID', 'SETGID'];

export interface StartAgentOptions {
  docker: Docker;
  image: string;
  /** This container's host folder: holds the agent socket and, once assigned, the code. */
  slotDir: string;
  ownerId: string;
  limits: ContainerLimits;
  /** Sizes the agent's messages must keep to. */
  messageLimits: AgentMessageLimits;
  /** The egress network, ready: required when `limits.network`. */
  egress?: EgressReady;
  helloTimeoutMs: number;
  /** Hears why the agent's connection was cut off when no call would (see AgentChannel). */
  warn?: (message: string, err: Error) => void;
}

/** How a container is used: a spare waits for code; loaded serves one version. */
export type AgentContainerPhase =
  | { phase: 'spare' }
  | { phase: 'loaded'; versionKey: string }
  | { phase: 'dead' };

/** Why a container's process ended, from the engine. */
export interface ExitInfo {
  oomKilled: boolean;
  exitCode: number | undefined;
  logTail: string;
}

/**
 * One running node/python container: its agent connection, its folder and its cgroup. Started
 * as a spare (no code); `assign` gives it a version's code and limits and loads the handler.
 */
export class AgentContainer {
  readonly id: string;
  readonly channel: AgentChannel;
  readonly metrics: CgroupMetrics;
  state: AgentContainerPhase = { phase: 'spare' };
  /** When it last finished an invocation (for idle scale-to-zero). */
  lastUsedAt = Date.now();
  #docker: Docker;
  #slotDir: string;
  #limits: ContainerLimits;
  #destroying: Promise<void> | undefined;

  private constructor(
    docker: Docker,
    id: string,
    channel: AgentChannel,
    slotDir: string,
    limits: ContainerLimits,
  ) {
    this.#docker = docker;
    this.id = id;
    this.channel = channel;
    this.#slotDir = slotDir;
    this.#limits = limits;
    this.metrics = CgroupMetrics.forContainer(id);
    channel.onGone(() => {
      if (this.state.phase !== 'dead') this.state = { phase: 'dead' };
    });
  }

  static async start(options: StartAgentOptions): Promise<AgentContainer> {
    const { docker, slotDir } = options;
    await mkdir(slotDir, { recursive: true, mode: 0o755 });
    const [agentUid, agentGid] = AGENT_USER.split(':').map(Number) as [number, number];
    const channel = await AgentChannel.listen(join(slotDir, 'agent.sock'), {
      agentUid,
      agentGid,
      limits: options.messageLimits,
      ...(options.warn ? { warn: options.warn } : {}),
    });
    let id: string | undefined;
    try {
      const container = await docker.createContainer({
        Image: options.image,
        User: '0:0',
        Env: [
          `FAAS_AGENT_SOCKET=${MOUNT}/agent.sock`,
          `FAAS_AGENT_USER=${AGENT_USER}`,
          `FAAS_FUNCTION_USER=${SANDBOX_USER}`,
          'HOME=/tmp',
        ],
        Labels: { [MANAGED_LABEL]: 'true', [OWNER_LABEL]: options.ownerId, [ROLE_LABEL]: 'agent' },
        HostConfig: {
          ...hardenedHostConfig(options.limits, [`${slotDir}:${MOUNT}:ro`], {
            gvisorRuntime: 'gvisor-uds',
            ...(options.egress ? { egress: options.egress } : {}),
          }),
          CapAdd: AGENT_CAPABILITIES,
        },
        StopTimeout: 1,
      });
      id = container.id;
      await container.start();
      // An agent that cannot connect exits: fail then, not at the hello timeout.
      const watch = new AbortController();
      const exited = container
        .wait({ condition: 'not-running', abortSignal: watch.signal })
        .then(async () => {
          const logs = demuxLogs(
            (await container.logs({ stdout: true, stderr: true, tail: 10 })) as unknown as Buffer,
          );
          throw new Error(`The agent exited before connecting${logs.trim() ? `: ${logs.trim()}` : ''}`);
        });
      exited.catch(() => {});
      try {
        await Promise.race([channel.waitForHello(options.helloTimeoutMs), exited]);
      } finally {
        watch.abort();
      }
      return new AgentContainer(docker, container.id, channel, slotDir, options.limits);
    } catch (err) {
      await channel.close();
      if (id) await removeContainer(docker, id).catch(() => {});
      await rm(slotDir, { recursive: true, force: true });
      throw err;
    }
  }

  get alive(): boolean {
    return this.state.phase !== 'dead' && this.channel.connected;
  }

  /**
   * Gives a spare a version: links the code into its folder, applies the version's limits and
   * loads the handler. Resolves with the load error when the code does not load.
   */
  async assign(
    versionKey: string,
    codeDir: string,
    limits: ContainerLimits,
    load: Omit<LoadRequest, 'dir'>,
    timeoutMs: number,
  ): Promise<AgentError | undefined> {
    await linkTree(codeDir, join(this.#slotDir, 'code'));
    const wanted = updatableLimits(limits);
    const current = updatableLimits(this.#limits);
    if (
      wanted.Memory !== current.Memory ||
      wanted.NanoCpus !== current.NanoCpus ||
      wanted.PidsLimit !== current.PidsLimit
    ) {
      await this.#docker.getContainer(this.id).update(wanted);
      this.#limits = limits;
    }
    const error = await this.channel.load({ ...load, dir: `${MOUNT}/code` }, timeoutMs);
    if (!error) this.state = { phase: 'loaded', versionKey };
    return error;
  }

  /** Why the process ended: waits briefly for the engine to see the exit, then inspects. */
  async exitInfo(): Promise<ExitInfo> {
    const container = this.#docker.getContainer(this.id);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      container.wait({ condition: 'not-running' }).catch(() => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 3000);
      }),
    ]);
    clearTimeout(timer);
    try {
      const info = await container.inspect();
      const logs = (await container.logs({ stdout: true, stderr: true, tail: 20 })) as unknown as Buffer;
      const exitCode = info.State.Running ? undefined : info.State.ExitCode;
      return {
        oomKilled: await oomKilledAfterExit(container, { exitCode, killedByPlatform: false }),
        exitCode,
        logTail: demuxLogs(logs),
      };
    } catch {
      return { oomKilled: false, exitCode: undefined, logTail: '' };
    }
  }

  /** Removes the container and its folder. Idempotent. */
  destroy(): Promise<void> {
    this.state = { phase: 'dead' };
    this.#destroying ??= (async () => {
      this.metrics.close();
      await this.channel.close();
      await removeContainer(this.#docker, this.id).catch(() => {});
      await rm(this.#slotDir, { recursive: true, force: true });
    })();
    return this.#destroying;
  }
}

/** Docker's log stream without a TTY interleaves 8-byte frame headers; this drops them. */
export function demuxLogs(raw: Buffer | string): string {
  if (typeof raw === 'string') return raw;
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= raw.length) {
    const size = raw.readUInt32BE(offset + 4);
    parts.push(raw.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}
