import type { ApiKeyRecord, Scope } from '@faas/core';
import { ErrorCode, FaasError, inScope, isFaasError } from '@faas/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeyService } from '../control/api-key-service.ts';
import { type Identity, identityOfKey, PROJECT_HEADER, reachesFunction } from '../tenancy/identity.ts';
import type { ProjectService } from '../tenancy/project-service.ts';
import { routeScope } from '../tenancy/route-scopes.ts';
import { clientAddress } from './client-address.ts';

declare module 'fastify' {
  interface FastifyRequest {
    apiKey?: ApiKeyRecord;
    /** Who the request acts as; undefined when auth is off. */
    identity?: Identity;
    /** The project the request makes things in (its key's; a platform admin may name another). */
    project: string;
    /**
     * The project whose objects the request may see; undefined: every project (a platform admin
     * naming none, or auth off). Routes pass it to every read and check it on every object.
     */
    projectScope: string | undefined;
  }
}

/**
 * An onRequest hook: a valid Bearer key or 401 (429 past the failure limit), then `authorize`.
 * Disabled when auth is off.
 */
export function requireApiKey(keys: ApiKeyService, enabled: boolean, projects: ProjectService) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    if (!enabled) return;
    const header = request.headers.authorization;
    const key = await authenticate(keys, header, clientAddress(request.raw));
    await authorize(request, key, projects);
    // A cache hit mostly: a revocation clears the key from every thread's cache (credential-watch.ts).
    request.recheckCredential = () => authenticate(keys, header);
  };
}

/**
 * The request acts as `key` (sent as a Bearer key, or the key a browser session or stream ticket
 * stands for): its identity and project, and the route's scope (403 without it; ROUTE_SCOPES). A
 * key narrowed to some functions finds no other (404) on the function routes. A platform admin
 * may name the project with X-Faas-Project.
 */
export async function authorize(
  request: FastifyRequest,
  key: ApiKeyRecord,
  projects: ProjectService,
): Promise<void> {
  const identity = identityOfKey(key);
  actAs(request, identity);
  request.apiKey = key;
  const route = request.routeOptions.url ?? '';
  requireScope(identity, routeScope(request.method, route));
  // A function list narrows functions: a secret's or a project's `:name` is none of them.
  const name = (request.params as { name?: unknown } | undefined)?.name;
  if (typeof name === 'string' && isFunctionRoute(route)) mustReachFunction(identity, name);
  const named = request.headers[PROJECT_HEADER];
  if (request.identity?.allProjects && typeof named === 'string') {
    await projects.mustExist(named);
    request.project = named;
    request.projectScope = named;
  }
}

/**
 * For a route that names a function anywhere but its path (a query's `functionName`): a key
 * narrowed to other functions finds it no more than an unknown one.
 * @throws FaasError FUNCTION_NOT_FOUND (404) unless the identity reaches the function
 */
export function mustReachFunction(identity: Identity | undefined, name: string): void {
  if (!identity || reachesFunction(identity, name)) return;
  throw new FaasError(ErrorCode.FUNCTION_NOT_FOUND, `Function "${name}" not found`, {
    details: { name },
  });
}

const FUNCTION_ROUTE = '/api/v1/functions/:name';

/** Whether a route's `:name` is a function's: `/api/v1/functions/:name` and the routes below it. */
function isFunctionRoute(route: string): boolean {
  return route === FUNCTION_ROUTE || route.startsWith(`${FUNCTION_ROUTE}/`);
}

/** Sets who the request acts as (a key here; a browser session maps to a key's identity too). */
export function actAs(request: FastifyRequest, identity: Identity): void {
  request.identity = identity;
  request.project = identity.project;
  request.projectScope = identity.allProjects ? undefined : identity.project;
}

/** @throws FaasError FORBIDDEN (403) unless the identity has the scope (a route without one: nobody). */
export function requireScope(identity: Identity, scope: Scope | undefined): void {
  if (scope && identity.scopes.includes(scope)) return;
  throw new FaasError(
    ErrorCode.FORBIDDEN,
    scope
      ? `This needs the scope "${scope}", which this key does not have`
      : 'This route is not open to keys',
    { details: { scope: scope ?? null, role: identity.role } },
  );
}

/** Whether the request may see what only editors of a function may (its env values). */
export function mayEdit(request: FastifyRequest): boolean {
  return !request.identity || request.identity.scopes.includes('functions:write');
}

/** Whether an object of `project` is the request's to see; another project's answers 404. */
export function visible(request: FastifyRequest, project: string | undefined): boolean {
  return inScope(request.projectScope, project);
}

/**
 * The key an Authorization header carries. With the client's address, failures count against it
 * (keys.throttle): past the limit the client is refused before its key is looked at, unless the
 * key was verified moments ago (a cache hit costs a guesser nothing and is never slowed).
 * @throws FaasError UNAUTHORIZED when it is missing, malformed, unknown or revoked;
 *   AUTH_THROTTLED (429, details.retryAfterSeconds) while the address is throttled;
 *   STORAGE_UNAVAILABLE (503, not counted as a failure) when the key cannot be looked up.
 */
export async function authenticate(
  keys: ApiKeyService,
  header: string | undefined,
  address?: string,
): Promise<ApiKeyRecord> {
  if (!header) {
    throw new FaasError(ErrorCode.UNAUTHORIZED, 'Missing API key: send "Authorization: Bearer <key>"');
  }
  const secret = bearerSecret(header);
  const cached = secret && keys.verifyCached(secret);
  if (cached) return live(cached);
  if (address !== undefined) {
    const waitMs = keys.throttle.retryAfterMs(address);
    if (waitMs > 0) throw throttled(waitMs);
  }
  if (!secret) {
    if (address !== undefined) keys.throttle.fail(address);
    throw new FaasError(ErrorCode.UNAUTHORIZED, 'Malformed Authorization header: expected "Bearer <key>"');
  }
  let key: ApiKeyRecord | undefined;
  try {
    key = await keys.verify(secret);
  } catch (err) {
    // A token that fails verification is a failed authentication like an unknown key; a store
    // that does not answer says nothing of the key, and must not lock out its valid keys.
    if (address !== undefined && isWrongCredential(err)) keys.throttle.fail(address);
    throw err;
  }
  if (!key) {
    if (address !== undefined) keys.throttle.fail(address);
    throw new FaasError(ErrorCode.UNAUTHORIZED, 'Invalid or revoked API key');
  }
  return live(key);
}

/** Whether a verification error says the credential itself is wrong (401), not that checking it failed. */
function isWrongCredential(err: unknown): boolean {
  return isFaasError(err) && err.status === 401;
}

/** @throws FaasError UNAUTHORIZED for a key past its expiresAt */
function live(key: ApiKeyRecord): ApiKeyRecord {
  if (key.expiresAt !== undefined && Date.parse(key.expiresAt) <= Date.now()) {
    throw new FaasError(ErrorCode.UNAUTHORIZED, 'This API key has expired', {
      details: { expiredAt: key.expiresAt },
    });
  }
  return key;
}

function throttled(waitMs: number): FaasError {
  const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
  return new FaasError(
    ErrorCode.AUTH_THROTTLED,
    `Too many failed authentications from this address: try again in ${retryAfterSeconds} s`,
    { details: { retryAfterSeconds } },
  );
}

/** `authenticate` answered from the key cache, without waiting; undefined sends you to it. */
export function authenticateCached(
  keys: ApiKeyService,
  header: string | undefined,
): ApiKeyRecord | undefined {
  const secret = header && bearerSecret(header);
  const key = secret ? keys.verifyCached(secret) : undefined;
  // An expired key is authenticate's to refuse, with its reason.
  return key && (key.expiresAt === undefined || Date.parse(key.expiresAt) > Date.now()) ? key : undefined;
}

function bearerSecret(header: string): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
}

/** What a request without a key hears about a function that is not public, or absent. */
export function missingKey(): FaasError {
  return new FaasError(
    ErrorCode.UNAUTHORIZED,
    'Missing API key: this function is not public; send "Authorization: Bearer <key>" of its project',
  );
}
