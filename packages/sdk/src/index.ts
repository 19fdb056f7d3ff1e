export type {
  ApiKeyRecord,
  CodeInput,
  DependencyCache,
  ErrorBody,
  FunctionConfig,
  FunctionInput,
  FunctionRecord,
  FunctionRuntime,
  FunctionVersion,
  HttpMethod,
  InstanceView,
  Invocation,
  InvocationError,
  InvocationStatus,
  Isolation,
  LogLine,
  Page,
  PageRequest,
  RouteSpec,
  SnapshotView,
  StoredLogLine,
} from './api-types.ts';
export {
  type DeployOptions,
  type DeployStreamEvent,
  FaaSClient,
  type FaaSClientOptions,
  type FunctionSpec,
  type InvokeOptions,
  type ProjectQuotaSettings,
  type ProjectSettings,
  type ProjectView,
  type PublicApiKey,
  type SyncResult,
} from './client.ts';
export { errorFromResponse, FaasApiError, FaasConnectionError } from './errors.ts';
export type {
  Context,
  FunctionLogger,
  Handler,
  HttpEvent,
  HttpHandler,
  HttpResponse,
} from './handler-types.ts';
export type { InstanceStream, StreamOptions, WebSocketClass, WebSocketLike } from './instance-stream.ts';
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
export type {
  FunctionStats,
  FunctionStatsSeries,
  StatsBucket,
  StatsWindow,
  WindowStats,
} from './stats-types.ts';
