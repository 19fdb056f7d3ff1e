/** How strongly an instance is isolated: runc (namespaces) or gVisor (a user-space kernel). */
export type Isolation = 'runc' | 'gvisor';

/** Package caches a sandbox may mount, opt-in, shared within its project (see the container runtime). */
export const DEPENDENCY_CACHE_NAMES = ['npm', 'pip', 'go', 'cargo'] as const;
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
  /** The project it belongs to (its dependency caches are that project's). @default DEFAULT_PROJECT */
  project?: string;
}

/**
 * `memory`: a gVisor checkpoint, processes and files, restored where they were;
 * `filesystem`: the /workspace folder only (runc cannot checkpoint memory on this kernel).
 */
export type SnapshotKind = 'memory' | 'filesystem';

/** A process running in an instance when a memory snapshot was taken: it goes on in restores. */
export interface SnapshotProcess {
  /** Its number in the instance (what stream commands name). */
  process: number;
  pid?: number;
  command: string[];
  tty: boolean;
  /** The instance's main process (the spec's command): where stream stdin goes by default. */
  main?: boolean;
}

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
  /** Memory snapshots: the processes started through the API that were running. */
  processes?: SnapshotProcess[];
  /** sha256 of the snapshot's tar in the blob store. */
  blobChecksum: string;
  sizeBytes: number;
  createdAt: number;
}

export interface SnapshotFilter {
  /** Only snapshots of this project's instances. */
  project?: string;
  instanceId?: string;
  executionId?: string;
}

/** An instance as the API shows it (`GET /api/v1/instances/{id}`; snake_case, as seed 004). */
export interface InstanceView {
  id: string;
  /** `lost`: in a cluster, its worker is out (docs/cluster.md); only GET and DELETE answer for it. */
  status: 'starting' | 'running' | 'checkpointing' | 'stopping' | 'stopped' | 'failed' | 'deleted' | 'lost';
  /**
   * Why it is `failed` (its sandbox agent broke the protocol or stopped answering, so its
   * container was killed) or `lost` (its worker is out of the cluster). Null in every other state.
   */
  reason: string | null;
  image: string;
  command: string[] | null;
  /** Names only: values may be secrets. */
  env: string[];
  isolation: Isolation;
  memory_mb: number;
  cpus: number;
  pids_limit: number;
  disk_mb: number;
  network: boolean;
  idle_ttl_ms: number;
  dependency_caches: DependencyCache[];
  created_at: string;
  last_active_at: string;
  /** Processes started through the API that have not exited. */
  processes: Array<{ process: number; pid?: number; command: string; tty: boolean }>;
  /** Stream clients connected now. */
  watchers: number;
}

/** A snapshot as the API shows it (`GET /api/v1/snapshots/{id}`). */
export interface SnapshotView {
  id: string;
  name: string | null;
  instance_id: string;
  execution_id: string | null;
  kind: SnapshotKind;
  image: string;
  isolation: Isolation;
  size_bytes: number;
  created_at: string;
}
