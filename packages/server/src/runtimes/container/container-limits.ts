import type { ContainerCreateOptions, HostConfig } from 'dockerode';

/** Per-container limits; functions derive them from their config, sandboxes from the request. */
export interface ContainerLimits {
  memoryMb: number;
  /** Whole or fractional CPUs. @default 1 */
  cpus?: number;
  /** Processes and threads. @default 256 */
  pidsLimit?: number;
  /** Size of the /tmp tmpfs. @default 64 */
  tmpMb?: number;
  /** Outbound network (bridge). @default false: network none */
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

/**
 * The hardened HostConfig every faas container gets: no network unless asked, read-only root,
 * size-limited tmpfs /tmp, memory/CPU/pids limits, all capabilities dropped, no privilege gain,
 * an init process that reaps zombies, gVisor when asked. Agent containers use `gvisor-uds`
 * (scripts/install-engine.sh registers it): runsc with host Unix socket connections allowed.
 */
export function hardenedHostConfig(
  limits: ContainerLimits,
  binds: string[],
  gvisorRuntime: 'gvisor' | 'gvisor-uds' = 'gvisor',
): HostConfig {
  return {
    ...updatableLimits(limits),
    Binds: binds,
    NetworkMode: limits.network ? 'bridge' : 'none',
    ReadonlyRootfs: true,
    Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${limits.tmpMb ?? DEFAULT_TMP_MB}m,mode=1777` },
    CapDrop: ['ALL'],
    SecurityOpt: ['no-new-privileges'],
    Init: true,
    ...(limits.isolation === 'gvisor' ? { Runtime: gvisorRuntime } : {}),
    LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '1' } },
  };
}

export type CreateOptions = ContainerCreateOptions;
