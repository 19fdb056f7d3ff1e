/**
 * Stable error codes: public API. Every code here is listed in docs/errors.md (a test checks).
 * Kept as an `as const` object because Node's type stripping rejects `enum`.
 */
export const ErrorCode = {
  BAD_REQUEST: 'FAAS_ERR_BAD_REQUEST',
  INVALID_JSON: 'FAAS_ERR_INVALID_JSON',
  VALIDATION: 'FAAS_ERR_VALIDATION',
  BODY_TOO_LARGE: 'FAAS_ERR_BODY_TOO_LARGE',
  UNAUTHORIZED: 'FAAS_ERR_UNAUTHORIZED',
  TOKEN_EXPIRED: 'FAAS_ERR_TOKEN_EXPIRED',
  TOKEN_NOT_YET_VALID: 'FAAS_ERR_TOKEN_NOT_YET_VALID',
  TOKEN_INVALID: 'FAAS_ERR_TOKEN_INVALID',
  FORBIDDEN: 'FAAS_ERR_FORBIDDEN',
  NOT_FOUND: 'FAAS_ERR_NOT_FOUND',
  FUNCTION_NOT_FOUND: 'FAAS_ERR_FUNCTION_NOT_FOUND',
  VERSION_NOT_FOUND: 'FAAS_ERR_VERSION_NOT_FOUND',
  INVOCATION_NOT_FOUND: 'FAAS_ERR_INVOCATION_NOT_FOUND',
  API_KEY_NOT_FOUND: 'FAAS_ERR_API_KEY_NOT_FOUND',
  SECRET_NOT_FOUND: 'FAAS_ERR_SECRET_NOT_FOUND',
  SECRET_MISSING: 'FAAS_ERR_SECRET_MISSING',
  SECRET_UNREADABLE: 'FAAS_ERR_SECRET_UNREADABLE',
  SECRET_KEY_MISMATCH: 'FAAS_ERR_SECRET_KEY_MISMATCH',
  ROUTE_NOT_FOUND: 'FAAS_ERR_ROUTE_NOT_FOUND',
  FUNCTION_EXISTS: 'FAAS_ERR_FUNCTION_EXISTS',
  PROJECT_NOT_FOUND: 'FAAS_ERR_PROJECT_NOT_FOUND',
  PROJECT_EXISTS: 'FAAS_ERR_PROJECT_EXISTS',
  HOST_TAKEN: 'FAAS_ERR_HOST_TAKEN',
  QUOTA_EXCEEDED: 'FAAS_ERR_QUOTA_EXCEEDED',
  ROUTE_CONFLICT: 'FAAS_ERR_ROUTE_CONFLICT',
  CONFLICT: 'FAAS_ERR_CONFLICT',
  NOT_DEAD_LETTERED: 'FAAS_ERR_NOT_DEAD_LETTERED',
  IDEMPOTENCY_KEY_REUSED: 'FAAS_ERR_IDEMPOTENCY_KEY_REUSED',
  COMPILE_ERROR: 'FAAS_ERR_COMPILE_ERROR',
  INVALID_ARCHIVE: 'FAAS_ERR_INVALID_ARCHIVE',
  UNSUPPORTED_MEDIA_TYPE: 'FAAS_ERR_UNSUPPORTED_MEDIA_TYPE',
  TOO_MANY_REQUESTS: 'FAAS_ERR_TOO_MANY_REQUESTS',
  AUTH_THROTTLED: 'FAAS_ERR_AUTH_THROTTLED',
  RATE_LIMITED: 'FAAS_ERR_RATE_LIMITED',
  INSTANCE_LIMIT: 'FAAS_ERR_INSTANCE_LIMIT',
  FUNCTION_ERROR: 'FAAS_ERR_FUNCTION_ERROR',
  FUNCTION_TIMEOUT: 'FAAS_ERR_FUNCTION_TIMEOUT',
  INVALID_FUNCTION_RESPONSE: 'FAAS_ERR_INVALID_FUNCTION_RESPONSE',
  OUT_OF_MEMORY: 'FAAS_ERR_OUT_OF_MEMORY',
  RUNTIME_UNAVAILABLE: 'FAAS_ERR_RUNTIME_UNAVAILABLE',
  WORKER_LOST: 'FAAS_ERR_WORKER_LOST',
  INSTANCE_LOST: 'FAAS_ERR_INSTANCE_LOST',
  STORAGE_FULL: 'FAAS_ERR_STORAGE_FULL',
  STORAGE_READ_ONLY: 'FAAS_ERR_STORAGE_READ_ONLY',
  STORAGE_UNAVAILABLE: 'FAAS_ERR_STORAGE_UNAVAILABLE',
  RECORDS_BACKLOG: 'FAAS_ERR_RECORDS_BACKLOG',
  DATA_DIR_IN_USE: 'FAAS_ERR_DATA_DIR_IN_USE',
  NETWORK_UNAVAILABLE: 'FAAS_ERR_NETWORK_UNAVAILABLE',
  AUTH_UNAVAILABLE: 'FAAS_ERR_AUTH_UNAVAILABLE',
  NOT_IMPLEMENTED: 'FAAS_ERR_NOT_IMPLEMENTED',
  INTERNAL: 'FAAS_ERR_INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The HTTP status each code answers with. */
export const ERROR_STATUS: Record<ErrorCode, number> = {
  FAAS_ERR_BAD_REQUEST: 400,
  FAAS_ERR_INVALID_JSON: 400,
  FAAS_ERR_VALIDATION: 422,
  FAAS_ERR_BODY_TOO_LARGE: 413,
  FAAS_ERR_UNAUTHORIZED: 401,
  FAAS_ERR_TOKEN_EXPIRED: 401,
  FAAS_ERR_TOKEN_NOT_YET_VALID: 401,
  FAAS_ERR_TOKEN_INVALID: 401,
  FAAS_ERR_FORBIDDEN: 403,
  FAAS_ERR_NOT_FOUND: 404,
  FAAS_ERR_FUNCTION_NOT_FOUND: 404,
  FAAS_ERR_VERSION_NOT_FOUND: 404,
  FAAS_ERR_INVOCATION_NOT_FOUND: 404,
  FAAS_ERR_API_KEY_NOT_FOUND: 404,
  FAAS_ERR_SECRET_NOT_FOUND: 404,
  FAAS_ERR_SECRET_MISSING: 422,
  FAAS_ERR_SECRET_UNREADABLE: 503,
  FAAS_ERR_SECRET_KEY_MISMATCH: 503,
  FAAS_ERR_ROUTE_NOT_FOUND: 404,
  FAAS_ERR_FUNCTION_EXISTS: 409,
  FAAS_ERR_PROJECT_NOT_FOUND: 404,
  FAAS_ERR_PROJECT_EXISTS: 409,
  FAAS_ERR_HOST_TAKEN: 409,
  FAAS_ERR_QUOTA_EXCEEDED: 403,
  FAAS_ERR_ROUTE_CONFLICT: 409,
  FAAS_ERR_CONFLICT: 409,
  FAAS_ERR_NOT_DEAD_LETTERED: 409,
  FAAS_ERR_IDEMPOTENCY_KEY_REUSED: 422,
  FAAS_ERR_COMPILE_ERROR: 422,
  FAAS_ERR_INVALID_ARCHIVE: 422,
  FAAS_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  FAAS_ERR_TOO_MANY_REQUESTS: 429,
  FAAS_ERR_AUTH_THROTTLED: 429,
  FAAS_ERR_RATE_LIMITED: 429,
  FAAS_ERR_INSTANCE_LIMIT: 429,
  FAAS_ERR_FUNCTION_ERROR: 500,
  FAAS_ERR_FUNCTION_TIMEOUT: 504,
  FAAS_ERR_INVALID_FUNCTION_RESPONSE: 502,
  FAAS_ERR_OUT_OF_MEMORY: 500,
  FAAS_ERR_RUNTIME_UNAVAILABLE: 503,
  FAAS_ERR_WORKER_LOST: 502,
  FAAS_ERR_INSTANCE_LOST: 410,
  FAAS_ERR_STORAGE_FULL: 507,
  FAAS_ERR_STORAGE_READ_ONLY: 503,
  FAAS_ERR_STORAGE_UNAVAILABLE: 503,
  FAAS_ERR_RECORDS_BACKLOG: 503,
  FAAS_ERR_DATA_DIR_IN_USE: 409,
  FAAS_ERR_NETWORK_UNAVAILABLE: 503,
  FAAS_ERR_AUTH_UNAVAILABLE: 503,
  FAAS_ERR_NOT_IMPLEMENTED: 501,
  FAAS_ERR_INTERNAL: 500,
};

export interface FaasErrorOptions {
  details?: unknown;
  cause?: unknown;
  /** Overrides the code's default status (rarely needed). */
  status?: number;
}

/** The one error type of the platform: a stable code, an HTTP status, optional details. */
export class FaasError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, options: FaasErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'FaasError';
    this.code = code;
    this.status = options.status ?? ERROR_STATUS[code];
    this.details = options.details;
  }

  toJSON(): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

/** The JSON body of every error response. */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export function isFaasError(value: unknown): value is FaasError {
  return value instanceof FaasError;
}

const refusals = new WeakSet<FaasError>();

/**
 * Marks `err` (a RUNTIME_UNAVAILABLE, say) as a refusal: it was thrown before the call was handed
 * to anything that runs its code (a runtime closed or draining, its engine down, no container
 * could be started), so nothing of the call ran. Only a refusal may be run again elsewhere (a
 * cluster's gateway tries another worker, docs/cluster.md); any other failure may have come after
 * the function started, and a second run would repeat its side effects. Returns `err`.
 */
export function refusedBeforeStart<E extends FaasError>(err: E): E {
  refusals.add(err);
  return err;
}

/** Whether `err` was marked by refusedBeforeStart. */
export function isRefusedBeforeStart(err: unknown): boolean {
  return err instanceof FaasError && refusals.has(err);
}

/** The metadata store cannot take a write now (unreachable, or read-only): one later may work. */
export function isStoreDown(err: unknown): boolean {
  return (
    isFaasError(err) &&
    (err.code === ErrorCode.STORAGE_UNAVAILABLE || err.code === ErrorCode.STORAGE_READ_ONLY)
  );
}

/** For exhaustive switches: reaching it is a compile error, and a runtime one if types lied. */
export class UnreachableCaseError extends Error {
  constructor(value: never) {
    super(`Unreachable case: ${JSON.stringify(value)}`);
  }
}
