/** How strongly an instance is isolated: runc (namespaces) or gVisor (a user-space kernel). */
export type Isolation = 'runc' | 'gvisor';

/** Shared package caches a sandbox may mount, opt-in (named volumes; see the container runtime). */
export const DEPENDENCY_CACHE_NAMES = ['npm', 'pip'] as const;
export type DependencyCache = (typeof DEPENDENCY_CACHE_NAMES)[number];

/** Everything needed to create an instance again: a restore or fork starts from this. */
export interface InstanceSpec {
  /** A local image (no registry is reachable). */
  image: string;
  /** The main process, argv; absent: the instance idles until commands are executed in it. */
  command?: string[];
  env: Record<string, string>;
  memoryMb: number;
  cpus: number;
  pidsLimit: number;
  /** Size of the /tmp and /workspace tmpfs. */
  diskMb: number;
  /** Outbound network. */
  network: boolean;
  isolation: Isolation;
  /** Stopped after this long without exec, stream or file activity; 0: never. */
  idleTtlMs: number;
  dependencyCaches?: DependencyCache[];
}

/**
 * `memory`: a gVisor checkpoint, processes and files, restored where they were;
 * `filesystem`: the /workspace folder only (runc cannot checkpoint memory on this kernel).
 */
export type SnapshotKind = 'memory' | 'filesystem';

export interface SnapshotRecord {
  /** `snap_…` */
  id: string;
  name?: string;
  /** The instance it was taken from (which may be gone since). */
  instanceId: string;
  /** Set when an execute in `checkpointed` mode took it. */
  executionId?: string;
  kind: SnapshotKind;
  spec: InstanceSpec;
  /** sha256 of the snapshot's tar in the blob store. */
  blobChecksum: string;
  sizeBytes: number;
  createdAt: number;
}

export interface SnapshotFilter {
  instanceId?: string;
  executionId?: string;
}
