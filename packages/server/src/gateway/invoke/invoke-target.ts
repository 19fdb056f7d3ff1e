import type { IncomingHttpHeaders } from 'node:http';
import { ErrorCode, FaasError, type VersionRef } from '@faas/core';
import { parseFunctionRef } from '../../control/function-catalog.ts';
import { RESERVED_PREFIXES, type RouteTable } from '../../control/route-table.ts';
import { SCHEDULE_KEY_PREFIX } from '../../control/scheduler.ts';
import { badUrl } from '../errors.ts';
import {
  API_INVOKE_PREFIX,
  API_INVOKE_SUFFIX,
  INVOKE_QUERY_KEYS,
  MAX_FUNCTION_REF_LENGTH,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  TRIGGER_METHODS,
  TRIGGER_PREFIX,
  VERSION_PATTERN,
} from './invoke-limits.ts';

/** What the pipeline needs of a request before its body: the same from node:http and Fastify. */
export interface RequestHead {
  method: string;
  /** As received: path and query, percent-encoded. */
  url: string;
  headers: IncomingHttpHeaders;
  /**
   * The headers as received, names and values by turns (node's `rawHeaders`): where `headers`
   * joins a repeated header's values with ", ", these still tell it from one value with a comma.
   */
  rawHeaders?: readonly string[];
  /** The client's address (clientAddress), for hooks: throttling, rate limits. */
  remoteAddress: string;
  /** The id of the API key the pipeline accepted for the request (for its request log line). */
  keyId?: string;
}

/** A request that invokes a function: the API's invoke, or an HTTP trigger. */
export type InvokeTarget =
  | {
      kind: 'api';
      /** The `{name}` path segment as received: `name` or `name:version`, percent-encoded. */
      rawRef: string;
      /** The query string, without `?`. */
      query: string;
    }
  | {
      kind: 'http';
      /**
       * `/fn/{name}`: the name as the caller's project knows it (or a `{project}.{name}` stored
       * name); a declared route: the stored name of the function the route table holds.
       */
      name: string;
      /** Whether the target came from a declared route (its `name` is already the stored one). */
      declared: boolean;
      /** The path the function sees: below `/fn/{name}`, or the declared route's whole path. */
      path: string;
      params: Record<string, string>;
      query: string;
    };

/**
 * Recognises an invoking request from its method and URL alone (no validation: a malformed
 * reference is the pipeline's to refuse, after the request's hooks, so that a request without a
 * key gets 401 before anything else). undefined: not an invoke; the router answers it.
 */
export function invokeTarget(head: RequestHead, routes: RouteTable): InvokeTarget | undefined {
  const { url, method } = head;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  if (path.startsWith(API_INVOKE_PREFIX)) {
    if (method !== 'POST') return undefined;
    const end = path.endsWith('/') ? path.length - 1 : path.length;
    if (!path.startsWith(API_INVOKE_SUFFIX, end - API_INVOKE_SUFFIX.length)) return undefined;
    const rawRef = path.slice(API_INVOKE_PREFIX.length, end - API_INVOKE_SUFFIX.length);
    if (rawRef.length === 0 || rawRef.includes('/')) return undefined;
    return { kind: 'api', rawRef, query };
  }
  if (!TRIGGER_METHODS.has(method)) return undefined;
  if (path.startsWith(TRIGGER_PREFIX)) {
    const slash = path.indexOf('/', TRIGGER_PREFIX.length);
    const name = safeDecode(path.slice(TRIGGER_PREFIX.length, slash < 0 ? undefined : slash));
    if (name.length === 0) return undefined;
    const rest = slash < 0 ? '' : path.slice(slash + 1);
    return { kind: 'http', name, declared: false, path: `/${safeDecode(rest)}`, params: {}, query };
  }
  if (RESERVED_PREFIXES.some((p) => path.startsWith(p))) return undefined;
  const match = routes.match(method, path, head.headers.host);
  if (!match) return undefined;
  return { kind: 'http', name: match.functionName, declared: true, path, params: match.params, query };
}

/**
 * What a request that matches no trigger hears; a declared route the caller may not use (another
 * project's private function) answers the same, so the route names no function.
 */
export function routeNotFound(head: RequestHead): FaasError {
  const path = head.url.split('?', 1)[0] as string;
  // The gateway's own prefixes answer like any unknown endpoint, not like a missing trigger.
  const own = RESERVED_PREFIXES.some((p) => path.startsWith(p));
  return new FaasError(
    own ? ErrorCode.NOT_FOUND : ErrorCode.ROUTE_NOT_FOUND,
    `No route ${head.method} ${path}`,
  );
}

/** An API target's function, version and mode, checked as the API documents them. */
export interface ApiInvoke {
  name: string;
  ref: VersionRef;
  async: boolean;
  idempotencyKey: string | undefined;
}

/**
 * @throws FaasError VALIDATION (422) for a reference or query the API does not take, BAD_REQUEST
 * for a path that is not percent-decodable.
 */
export function apiInvoke(
  target: InvokeTarget & { kind: 'api' },
  head: Pick<RequestHead, 'headers' | 'rawHeaders'>,
): ApiInvoke {
  const { headers } = head;
  let ref: string;
  try {
    ref = decodeURIComponent(target.rawRef);
  } catch {
    throw badUrl();
  }
  if (ref.length > MAX_FUNCTION_REF_LENGTH) {
    throw invalid('params.name', `must NOT have more than ${MAX_FUNCTION_REF_LENGTH} characters`);
  }
  let version: string | undefined;
  let async = false;
  for (const [key, value] of new URLSearchParams(target.query)) {
    if (!(INVOKE_QUERY_KEYS as readonly string[]).includes(key)) {
      throw invalid(`querystring.${key}`, 'is not a known field');
    }
    if (key === 'version') {
      if (!VERSION_PATTERN.test(value))
        throw invalid('querystring.version', `must match pattern "${VERSION_PATTERN.source}"`);
      version = value;
    } else if (value === 'true' || value === 'false') {
      async = value === 'true';
    } else {
      throw invalid('querystring.async', 'must be boolean');
    }
  }
  const { name, ref: versionRef } = parseFunctionRef(ref, version);
  const key = headerText(headers['idempotency-key']);
  // Joined, two keys would be taken as a third, "a, b": neither the first's invocation nor the
  // second's. (Only a joined value can hold ", ": the raw headers are read for it alone.)
  const sent = key?.includes(', ') ? headerLines(head.rawHeaders, 'idempotency-key').length : 1;
  if (sent > 1) {
    throw invalid('headers.idempotency-key', `must be sent once; the request sent it ${sent} times`);
  }
  // Cut, two long keys sharing their first characters would name one invocation.
  if (key !== undefined && key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw invalid(
      'headers.idempotency-key',
      `must NOT have more than ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`,
    );
  }
  if (key?.startsWith(SCHEDULE_KEY_PREFIX)) {
    throw invalid(
      'headers.idempotency-key',
      `must NOT start with "${SCHEDULE_KEY_PREFIX}" (reserved for the ticks of function schedules)`,
    );
  }
  return {
    name,
    ref: versionRef,
    async: async || headers['x-invocation-type'] === 'Event',
    idempotencyKey: key || undefined,
  };
}

/** The function an API target names, whatever its version; undefined when its path does not decode. */
export function apiFunctionName(target: InvokeTarget & { kind: 'api' }): string | undefined {
  try {
    const ref = decodeURIComponent(target.rawRef);
    const colon = ref.lastIndexOf(':');
    return colon >= 0 ? ref.slice(0, colon) : ref;
  } catch {
    return undefined;
  }
}

/** Whether an API target's query or headers ask for an async invoke, valid or not. */
export function asksAsync(target: InvokeTarget & { kind: 'api' }, headers: IncomingHttpHeaders): boolean {
  return (
    headers['x-invocation-type'] === 'Event' ||
    new URLSearchParams(target.query).getAll('async').includes('true')
  );
}

/** Whether an API target asks for an async invoke (false for one the pipeline will refuse). */
export function wantsAsync(target: InvokeTarget, head: Pick<RequestHead, 'headers' | 'rawHeaders'>): boolean {
  if (target.kind !== 'api') return false;
  try {
    return apiInvoke(target, head).async;
  } catch {
    return false;
  }
}

function invalid(field: string, message: string): FaasError {
  return new FaasError(ErrorCode.VALIDATION, `Invalid request: ${field} ${message}`, {
    details: [{ field, message }],
  });
}

/** The values of header `name` (lower case), one per time it was sent. */
export function headerLines(rawHeaders: readonly string[] | undefined, name: string): string[] {
  const values: string[] = [];
  if (!rawHeaders) return values;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() === name) values.push(rawHeaders[i + 1] as string);
  }
  return values;
}

function headerText(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  return text && text.length > 0 ? text : undefined;
}

function safeDecode(text: string): string {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The route pattern Fastify's router would name for this request (its metrics' label). */
export function routePattern(target: InvokeTarget, head: RequestHead): string {
  if (target.kind === 'api') return '/api/v1/functions/:name/invoke';
  if (!head.url.startsWith(TRIGGER_PREFIX)) return '/*';
  const rest = head.url.slice(TRIGGER_PREFIX.length);
  const end = rest.search(/[/?]/);
  return end >= 0 && rest[end] === '/' ? '/fn/:name/*' : '/fn/:name';
}
