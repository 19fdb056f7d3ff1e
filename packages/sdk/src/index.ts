export type { DependencyCache, InstanceView, Isolation, SnapshotView } from '@faas/core';
export {
  type DeployOptions,
  type DeployStreamEvent,
  FaaSClient,
  type FaaSClientOptions,
  type FunctionSpec,
  type FunctionStats,
  type InvokeOptions,
  type PublicApiKey,
  type SyncResult,
  type WindowStats,
} from './client.ts';
export { errorFromResponse, FaasApiError, FaasConnectionError } from './errors.ts';
export type { InstanceStream, StreamOptions } from './instance-stream.ts';
export type { FollowLogsOptions, LogStreamEvent } from './log-follow.ts';
export type {
  AdvancedExecuteRequest,
  AdvancedExecuteResult,
  Command,
  CreateInstanceRequest,
  ExecuteExit,
  ExecuteMode,
  ExecuteRequest,
  ExecuteResult,
  ExecuteStreamEvent,
  FileEntry,
  FolderListing,
  InstanceEvent,
  InstanceExecOptions,
  InstanceExecResult,
  PersistentExecuteResult,
  SnapshotFilter,
  StreamCommand,
} from './sandbox-types.ts';
export { type RunOptions, SandboxApi } from './sandboxes.ts';
