import type { ContainerCreateOptions, HostConfig } from 'dockerode';
import type { EgressReady } from './network/egress-network.ts';

/** Per-container limits; functions derive them from their config, sandboxes from the request. */
export interface ContainerLimits {
  memoryMb: number;
  /** Whole or fractional CPUs. @default 1 */
  cpus?: number;
  /** Processes and threads. @default 256 */
  pidsLimit?: number;
  /** Size of the /tmp tmpfs. @default 64 */
  tmpMb?: number;
  /** Outbound network: the egress-only network (network/egress-network.ts). @default false: network none */
  network?: boolean;
  isolation?: 'runc' | 'gvisor';
}

export const DEFAULT_PIDS_LIMIT = 256;
export const DEFAULT_TMP_MB = 64;
/** The uid:gid functions and sandboxes run as: no user of any image, never root. */
export const SANDBOX_USER = '65534:65534';

/** The limits that `docker update` can change on a running container. */
export function updatableLimits(
  limits: ContainerLimits,
): Pick<HostConfig, 'Memory' | 'MemorySwap' | 'NanoCpus' | 'PidsLimit'> {
  const memory = limits.memoryMb * 1024 * 1024;
  return {
    Memory: memory,
    // Equal to Memory: no swap, so going over the limit is an OOM kill, not a slow crawl.
    MemorySwap: memory,
    NanoCpus: Math.round((limits.cpus ?? 1) * 1e9),
    PidsLimit: limits.pidsLimit ?? DEFAULT_PIDS_LIMIT,
  };
}

/** How a container is placed, beyond its limits. */
export interface HostPlacement {
  /**
   * The gVisor runtime of a container without network. Agent containers use `gvisor-uds`:
   * runsc with host Unix socket connections allowed. @default 'gvisor'
   */
  gvisorRuntime?: 'gvisor' | 'gvisor-uds';
  /** Required with `limits.network`: the egress network, checked ready (`EgressNetwork.ready()`). */
  egress?: EgressReady;
}

/**
 * The gVisor runtimes scripts/install-engine.sh registers. Without network, runsc's own
 * `--network=none`. With network, `--network=host` inside the container's own namespace (the one
 * Docker made and plugged into the egress network): Debian's runsc refuses its netstack on this
 * kernel (it takes every namespace for the root one), and in host mode the sandbox's sockets are
 * the namespace's, behind the same firewall as runc's.
 */
const GVISOR_RUNTIMES = {
  gvisor: { none: 'gvisor', egress: 'gvisor-net' },
  'gvisor-uds': { none: 'gvisor-uds', egress: 'gvisor-uds-net' },
} as const;

/**
 * The hardened HostConfig every faas container gets: no network unless asked, and then only the
 * egress network (no host, no private ranges, no other container), read-only root, size-limited
 * tmpfs /tmp, memory/CPU/pids limits, all capabilities dropped, no privilege gain, an init
 * process that reaps zombies, gVisor when asked. The one place that decides a container's network.
 * @throws Error for a container with network but no proof that the egress network is ready.
 */
export function hardenedHostConfig(
  limits: ContainerLimits,
  binds: string[],
  placement: HostPlacement = {},
): HostConfig {
  if (limits.network && !placement.egress) {
    throw new Error('A container with network needs the egress network ready (EgressNetwork.ready())');
  }
  const network = limits.network ? 'egress' : 'none';
  return {
    ...updatableLimits(limits),
    Binds: binds,
    NetworkMode: limits.network && placement.egress ? placement.egress.network : 'none',
    PublishAllPorts: false,
    PortBindings: {},
    ReadonlyRootfs: true,
    Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${limits.tmpMb ?? DEFAULT_TMP_MB}m,mode=1777` },
    CapDrop: ['ALL'],
    SecurityOpt: ['no-new-privileges'],
    Init: true,
    ...(limits.isolation === 'gvisor'
      ? { Runtime: GVISOR_RUNTIMES[placement.gvisorRuntime ?? 'gvisor'][network] }
      : {}),
    LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '1' } },
  };
}

export type CreateOptions = ContainerCreateOptions;
