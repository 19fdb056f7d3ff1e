import { type ClusterNodeRecord, ERROR_STATUS, ErrorCode, FaasError } from '@faas/core';
import { CONNECT_TIMEOUT, SendFailure } from './node-client.ts';

/**
 * Errors that mean no connection was made, so the worker never saw the request: node:http's and
 * fetch's (undici's) codes for a refused, unroutable or unresolved address and a connect timeout.
 */
const NOT_CONNECTED = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  CONNECT_TIMEOUT,
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * A call, run or forwarded request the worker never took (no connection was made, or it said it
 * turned it away before anything started): another worker may take it (on-a-worker.ts).
 */
export class NotStarted extends Error {
  readonly reason: FaasError;
  constructor(reason: FaasError) {
    super(reason.message);
    this.reason = reason;
  }
}

/** What a failed request to a worker was, in its caller's words. */
export interface SendContext {
  /** What the request was: "call", "run". */
  what: string;
  /** The end of "Worker … did not answer …" when `signal` ran out. */
  deadline: string;
  /**
   * Whether a connection was made before the failure. Defaults to what a NodeClient SendFailure
   * tells; fetch does not tell it, so its caller says.
   */
  connected?: boolean;
  /**
   * The server's log: the failure, with the worker's address, for its operator. What a caller
   * sees (and an invocation record keeps) names the worker by its id only.
   */
  log?: (message: string, err: unknown) => void;
}

/**
 * Why a request to `node` failed, as the error its caller throws: the caller's own abort
 * reason when its client went away (not the worker's fault); NotStarted when no connection was
 * made (another worker may take it); FAAS_ERR_WORKER_LOST otherwise, the request having maybe run.
 */
export function sendFailure(
  node: ClusterNodeRecord,
  err: unknown,
  signal: AbortSignal,
  context: SendContext,
): Error {
  if (signal.aborted && signal.reason instanceof Error && signal.reason.name !== 'TimeoutError') {
    return signal.reason;
  }
  const connected = context.connected ?? (err instanceof SendFailure && err.connected);
  const code = causeCode(err);
  const lost = (message: string) =>
    new FaasError(ErrorCode.WORKER_LOST, message, { details: { worker: node.id }, cause: err });
  const failure =
    !connected && code !== undefined && NOT_CONNECTED.has(code)
      ? new NotStarted(lost(`Worker ${node.id} could not be reached (${code})`))
      : signal.aborted
        ? lost(`Worker ${node.id} did not answer ${context.deadline}`)
        : lost(`Worker ${node.id} went away during the ${context.what} (${code ?? (err as Error).message})`);
  context.log?.(failure.message.replace(node.id, `${node.id} at ${node.url}`), err);
  return failure;
}

/**
 * The error a worker answered, as it sent it (its code keeps its HTTP status), or
 * FAAS_ERR_WORKER_LOST when the body is not one of ours: a worker is trusted with the cluster
 * secret, not with inventing codes.
 */
export function workerError(node: ClusterNodeRecord, status: number, body: unknown): FaasError {
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)
    ?.error;
  if (typeof error?.code !== 'string' || !Object.hasOwn(ERROR_STATUS, error.code)) {
    return new FaasError(
      ErrorCode.WORKER_LOST,
      `Worker ${node.id} answered ${status} without an error body`,
      {
        details: { worker: node.id },
      },
    );
  }
  return new FaasError(
    error.code as never,
    typeof error.message === 'string' ? error.message : error.code,
    error.details !== undefined ? { details: error.details } : {},
  );
}

/** JSON.parse that gives undefined for what is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function causeCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
