import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { InstanceSpec } from '@faas/core';
import type Docker from 'dockerode';
import { MANAGED_LABEL, OWNER_LABEL, ROLE_LABEL } from '../container-labels.ts';
import { hardenedHostConfig, SANDBOX_USER } from '../container-limits.ts';
import { type CacheMounts, NO_CACHES } from '../dependency-caches.ts';
import type { EgressReady } from '../network/egress-network.ts';
import { BUSYBOX_MOUNT } from '../sandbox/sandbox-script.ts';

/** Where the agent binary is mounted; it is the container's main process. */
export const AGENT_MOUNT = '/.faas/agent';
/** The instance's working folder and HOME: a tmpfs, watched for file events. */
export const INSTANCE_WORKDIR = '/workspace';
/** The FIFO processes write JSON lines to for `custom` events (also in $FAAS_EVENTS). */
export const CUSTOM_EVENTS_PATH = '/tmp/.faas-events';

export const INSTANCE_ROLE = 'instance';
/**
 * How a restore standby's container is named until it is taken (then it is renamed): labels cannot
 * change, and a server that crashed must tell its unclaimed standbys from instances.
 */
export const STANDBY_NAME_PREFIX = 'faas-standby-';
export const INSTANCE_LABEL = 'faas.instance';
const SPEC_LABEL = 'faas.instance.spec';
const CREATED_LABEL = 'faas.instance.created';
const OWNER_KEY_LABEL = 'faas.instance.key';

export interface InstanceIdentity {
  id: string;
  spec: InstanceSpec;
  createdAt: number;
  /** The API key id that made it, for the per-key bound after a restart. */
  owner?: string;
}

export interface InstanceContainerOptions {
  docker: Docker;
  ownerId: string;
  agentPath: string;
  busyboxPath: string;
  /** The egress network, ready: required when the spec has network. */
  egress?: EgressReady;
  /** The spec's dependency caches, mounted for its project (DependencyCaches.prepare). */
  caches?: CacheMounts;
}

/**
 * Creates (does not start) the container of an instance. Its labels carry the instance's id and
 * spec, so a restarted server finds its instances again from the engine alone.
 */
export async function createInstanceContainer(
  options: InstanceContainerOptions,
  identity: InstanceIdentity,
  role: 'instance' | 'standby' = 'instance',
): Promise<Docker.Container> {
  const { spec } = identity;
  const caches = options.caches ?? NO_CACHES;
  const tmpfs = `rw,nosuid,nodev,size=${spec.diskMb}m`;
  const [uid, gid] = SANDBOX_USER.split(':');
  return options.docker.createContainer({
    name: role === 'standby' ? `${STANDBY_NAME_PREFIX}${identity.id}` : instanceContainerName(identity.id),
    Image: spec.image,
    // The agent starts as root with CAP_SETUID/CAP_SETGID only and runs every process as the
    // sandbox user: no process shares its uid, so none can write to its stdout (the server's
    // channel), signal it or trace it (images/sandbox-agent/PROTOCOL.md, "Privileges").
    Entrypoint: [AGENT_MOUNT, INSTANCE_WORKDIR, SANDBOX_USER],
    Cmd: [],
    User: '0:0',
    // No WorkingDir: the engine would make it a root folder over the tmpfs. The agent sets each
    // process's cwd instead.
    Env: [
      `HOME=${INSTANCE_WORKDIR}`,
      `FAAS_EVENTS=${CUSTOM_EVENTS_PATH}`,
      `FAAS_INSTANCE_ID=${identity.id}`,
      ...caches.env,
      ...Object.entries(spec.env).map(([name, value]) => `${name}=${value}`),
    ],
    OpenStdin: true,
    StdinOnce: false,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    Labels: {
      [MANAGED_LABEL]: 'true',
      [OWNER_LABEL]: options.ownerId,
      [ROLE_LABEL]: INSTANCE_ROLE,
      [INSTANCE_LABEL]: identity.id,
      [SPEC_LABEL]: JSON.stringify(spec),
      [CREATED_LABEL]: String(identity.createdAt),
      ...(identity.owner ? { [OWNER_KEY_LABEL]: identity.owner } : {}),
    },
    HostConfig: {
      ...hardenedHostConfig(
        {
          memoryMb: spec.memoryMb,
          cpus: spec.cpus,
          pidsLimit: spec.pidsLimit,
          network: spec.network,
          isolation: spec.isolation,
        },
        [
          `${options.busyboxPath}:${BUSYBOX_MOUNT}:ro`,
          `${options.agentPath}:${AGENT_MOUNT}:ro`,
          ...caches.binds,
        ],
        options.egress ? { egress: options.egress } : {},
      ),
      CapAdd: ['SETUID', 'SETGID'],
      // /tmp is everyone's (the agent's events FIFO is there); /workspace is the sandbox user's.
      Tmpfs: {
        '/tmp': `${tmpfs},mode=1777`,
        [INSTANCE_WORKDIR]: `${tmpfs},mode=0755,uid=${uid},gid=${gid}`,
      },
      // The stdout is the agent's binary frames: nothing worth keeping in a log file.
      LogConfig: { Type: 'none', Config: {} },
    },
    StopTimeout: 2,
  });
}

/** A checkpoint moves an instance to a new container while the old one still exists: names differ. */
export function instanceContainerName(id: string): string {
  return `faas-${id}-${randomBytes(3).toString('hex')}`;
}

/** The identity a container's labels carry; undefined for a container that is not an instance. */
export function identityFromLabels(labels: Record<string, string>): InstanceIdentity | undefined {
  const id = labels[INSTANCE_LABEL];
  const spec = labels[SPEC_LABEL];
  if (!id || !spec) return undefined;
  try {
    const owner = labels[OWNER_KEY_LABEL];
    return {
      id,
      spec: JSON.parse(spec) as InstanceSpec,
      createdAt: Number(labels[CREATED_LABEL]) || Date.now(),
      ...(owner ? { owner } : {}),
    };
  } catch {
    return undefined;
  }
}

/** Attaches to the agent's stdio; done before a start so no frame is missed. */
export async function attachAgent(container: Docker.Container): Promise<Duplex> {
  return (await container.attach({
    stream: true,
    stdin: true,
    stdout: true,
    stderr: true,
    hijack: true,
  })) as unknown as Duplex;
}
