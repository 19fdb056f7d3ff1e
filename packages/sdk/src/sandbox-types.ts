import type { DependencyCache, InstanceView, Isolation, SnapshotView } from './api-types.ts';

/**
 * Requests and answers of the sandbox API (docs/api.md "Execute", docs/instances.md), in the
 * API's own snake_case so that the docs and these types read the same.
 */

/** A string runs with the image's `/bin/sh -c`; an array is argv (the first word found on the image's PATH). */
export type Command = string | string[];

/** `POST /api/v1/execute`: a command in a fresh container. */
export interface ExecuteRequest {
  command: Command;
  /** A local image. @default the runtime's base image `faas/base:<hash>` */
  image?: string;
  env?: Record<string, string>;
  stdin?: string;
  /** `{ path: content }`, relative to `/workspace`. */
  files?: Record<string, string>;
  /** @default 30000 */
  timeout_ms?: number;
  memory_mb?: number;
  /** @default 1 */
  cpus?: number;
  /** Outbound network to the public internet only (no host, private ranges or other sandboxes). @default false */
  network?: boolean;
  /** The project's package caches (size-capped, shared by its sandboxes that ask). */
  dependency_caches?: DependencyCache[];
}

export type ExecuteMode = 'ephemeral' | 'cached' | 'checkpointed' | 'branched' | 'persistent';

/** `POST /api/v1/execute/advanced`: the execute body plus a mode and what the mode needs. */
export interface AdvancedExecuteRequest<M extends ExecuteMode = ExecuteMode> extends ExecuteRequest {
  mode: M;
  /** @default 'gvisor' for checkpointed and branched, else 'runc' */
  isolation?: Isolation;
  /** checkpointed: start from this snapshot instead of a fresh instance. */
  checkpoint?: string;
  /** branched (required there): a snapshot id or an `execution_id`. */
  parent?: string;
}

export interface ExecuteResult {
  stdout: string;
  stderr: string;
  exit_code: number;
  duration_ms: number;
  timed_out: boolean;
  oom_killed: boolean;
  /** Output past 10 MiB was cut. */
  truncated: boolean;
  mode: Exclude<ExecuteMode, 'persistent'>;
  /** cached mode: whether the stored result answered. */
  cache?: 'hit' | 'miss';
  /** checkpointed, branched: the run, usable as a `parent`. */
  execution_id?: string;
  /** checkpointed, branched: the snapshot taken when the command ended. */
  snapshot_id?: string;
}

/** persistent mode: an instance whose main process is the command. */
export interface PersistentExecuteResult {
  mode: 'persistent';
  instance_id: string;
  instance: InstanceView;
}

/** What `executeAdvanced` answers for a mode: a union when the mode is not known statically. */
export type AdvancedExecuteResult<M extends ExecuteMode> = M extends 'persistent'
  ? PersistentExecuteResult
  : ExecuteResult;

/** The last line of a streamed execute: the result without its output. */
export type ExecuteExit = Omit<ExecuteResult, 'stdout' | 'stderr'>;

/** One NDJSON line of `POST /api/v1/execute/stream`, as it arrives. */
export type ExecuteStreamEvent =
  | { type: 'stdout' | 'stderr'; data: string }
  | ({ type: 'exit' } & ExecuteExit)
  | { type: 'error'; error: { code: string; message: string; details?: unknown } };

/** `POST /api/v1/instances`. */
export interface CreateInstanceRequest {
  /** A local image. @default the base image */
  image?: string;
  /** The main process; absent: the instance waits for exec. */
  command?: Command;
  env?: Record<string, string>;
  memory_mb?: number;
  cpus?: number;
  pids_limit?: number;
  /** Size of the /workspace and /tmp tmpfs. */
  disk_mb?: number;
  /** Outbound network. @default false */
  network?: boolean;
  /** 'gvisor' is needed for memory snapshots. @default 'runc' */
  isolation?: Isolation;
  /** Stopped after this long unused; 0: never. @default 600000 */
  idle_ttl_ms?: number;
  dependency_caches?: DependencyCache[];
}

/** `POST /api/v1/instances/{id}/exec`, besides the command. */
export interface InstanceExecOptions {
  env?: Record<string, string>;
  /** @default '/workspace' */
  cwd?: string;
  stdin?: string;
  /** Then the command is killed (`timed_out`, exit 137). @default 60000 */
  timeout_ms?: number;
  /** Aborting closes the request, which kills the command. */
  signal?: AbortSignal;
}

export interface InstanceExecResult {
  stdout: string;
  stderr: string;
  exit_code: number;
  pid: number | null;
  duration_ms: number;
  timed_out: boolean;
  truncated: boolean;
}

export interface FileEntry {
  name: string;
  type: string;
  size: number;
  modified_at: string;
}

export interface FolderListing {
  /** Absolute, inside the instance. */
  path: string;
  entries: FileEntry[];
}

export interface SnapshotFilter {
  instance_id?: string;
  /** @default 50 */
  limit?: number;
  cursor?: string;
}

/** Fields every instance event has; replies to commands (`started`, `checkpoint`) have neither. */
interface Sequenced {
  seq: number;
  time: number;
}

/** One message of an instance's stream (docs/instances.md "Stream"). */
export type InstanceEvent =
  | (Sequenced & { type: 'stdout' | 'stderr'; data: string; process: number; pid?: number })
  | (Sequenced & { type: 'exit'; code: number; process: number; pid?: number })
  | (Sequenced & {
      type: 'process_event';
      event: 'start' | 'exit';
      process: number;
      pid?: number;
      command: string;
      code?: number;
    })
  | (Sequenced & { type: 'file_event'; path: string; event: 'created' | 'modified' | 'deleted' })
  | (Sequenced & { type: 'custom'; name: string; data: unknown })
  /** The first message has no `seq` and carries the `instance`; so does the answer to `get_state`. */
  | (Partial<Sequenced> & { type: 'state'; state: InstanceView['status']; instance?: InstanceView })
  | { type: 'heartbeat'; time: number }
  | { type: 'error'; error: { code: string; message: string } }
  | { type: 'started'; process: number; command: string }
  | { type: 'checkpoint'; snapshot: SnapshotView };

/** A message a stream client sends; they run in the order sent. */
export type StreamCommand =
  | {
      type: 'exec';
      command: Command;
      env?: Record<string, string>;
      cwd?: string;
      tty?: boolean;
      rows?: number;
      cols?: number;
    }
  /** `process` defaults to this client's foreground process (its last exec), else the main one. */
  | { type: 'stdin'; data: string; process?: number }
  | { type: 'stdin_close'; process?: number }
  | { type: 'resize'; rows: number; cols: number; process?: number }
  | { type: 'signal'; signal: string | number; process?: number }
  | { type: 'get_state' }
  | { type: 'checkpoint'; name?: string }
  | { type: 'stop' };
