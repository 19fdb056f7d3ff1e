export {
  FaaSClient,
  type FaaSClientOptions,
  type FunctionSpec,
  type InvokeOptions,
  type PublicApiKey,
  type SyncResult,
} from './client.ts';
export { errorFromResponse, FaasApiError, FaasConnectionError } from './errors.ts';
