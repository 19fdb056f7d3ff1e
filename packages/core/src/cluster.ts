import type { NodeRole } from './config.ts';

/** A node's load as the cluster sees it: each part 0–100, smoothed (see LOAD_WEIGHTS). */
export interface NodeLoad {
  /** The machine's CPU busy share. */
  cpu: number;
  /** The machine's memory in use. */
  memory: number;
  /** Time some task waited on I/O (Linux pressure stall information, `/proc/pressure/io`). */
  io: number;
  /** `cpu × 0.5 + memory × 0.3 + io × 0.2`: the lowest wins placement. */
  score: number;
}

/** What a node tells the cluster with each heartbeat. */
export interface ClusterNodeRecord {
  /** Kept in the node's data dir: the same after a restart. */
  id: string;
  role: NodeRole;
  /** Where the other nodes reach it (FAAS_ADVERTISE_URL). */
  url: string;
  capacity: { cpus: number; memoryMb: number };
  load: NodeLoad;
  /** Container invocations running on it now. */
  running: number;
  /** Function versions with warm containers on it, as `storedName:version`. */
  warm: string[];
  /**
   * Idle warm containers per function version (`storedName:version`): a call placed where one is
   * idle starts at once, while a version warm but busy there would wait or start cold. Absent in
   * records of workers from before it was sent (treated as none idle).
   */
  idle?: Record<string, number>;
  /** Instances on it now. Absent in records of workers from before it was sent. */
  instances?: number;
  /**
   * Paused restore standbys ready per snapshot id: a restore or fork placed there wakes one (tens
   * of ms) instead of restoring the checkpoint (hundreds). Absent: none.
   */
  standbys?: Record<string, number>;
  /**
   * Set from SIGTERM until the node leaves: no new work is placed on it, and calls in flight to
   * it are not given up (it is still in the cluster) while they finish.
   */
  draining?: boolean;
  startedAt: string;
  heartbeatAt: string;
}

/**
 * Who is in the cluster. A node is in from its first heartbeat until `ttlMs` pass without
 * another (FAAS_WORKER_TIMEOUT_MS), or it leaves.
 */
export interface NodeRegistry {
  /** Announces or refreshes a node. */
  heartbeat(node: ClusterNodeRecord, ttlMs: number): Promise<void>;
  /** Takes a node out at once (shutdown). Idempotent. */
  leave(id: string): Promise<void>;
  /** The nodes in the cluster now, by id. */
  list(): Promise<ClusterNodeRecord[]>;
  close(): Promise<void>;
}

/** What a make of instances must stay within over the whole cluster (instance placements). */
export interface PlacementBounds {
  /** The project's `instances` quota: every instance of the project counts. */
  projectLimit?: number;
  /** The API key making them and its bound on live instances (FAAS_INSTANCE_MAX_PER_KEY). */
  owner?: { id: string; limit: number };
}

/**
 * Room taken for instances being made (and what gives it back), or the bound it would pass and
 * what that bound counts now.
 */
export type PlacementRoom = { release: () => Promise<void> } | { over: 'project' | 'owner'; has: number };
