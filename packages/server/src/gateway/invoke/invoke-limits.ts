/**
 * The shapes of the requests that invoke a function, in one place: the target parser
 * (invoke-target.ts) and the API's schemas (schemas.ts) both read them.
 */

/** `POST /api/v1/functions/{name}/invoke`. */
export const API_INVOKE_PREFIX = '/api/v1/functions/';
export const API_INVOKE_SUFFIX = '/invoke';
/** HTTP triggers: `/fn/{name}` and `/fn/{name}/*`. */
export const TRIGGER_PREFIX = '/fn/';

/** A function reference in a path: `name` or `name:version`. */
export const MAX_FUNCTION_REF_LENGTH = 80;
/** Query parameters of the invoke API, and nothing else. */
export const INVOKE_QUERY_KEYS = ['version', 'async'] as const;
export const VERSION_PATTERN = /^([1-9][0-9]*|latest)$/;

/** Methods an HTTP trigger takes (HEAD as GET, without the body). */
export const TRIGGER_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
]);

/** Longest idempotency key taken; a longer one is refused (422). */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 256;
