import type { ApiKeyRecord, ApiKeyRole } from '@faas/core';
import { ErrorCode, FaasError } from '@faas/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeyService } from '../control/api-key-service.ts';
import { clientAddress } from './client-address.ts';

declare module 'fastify' {
  interface FastifyRequest {
    apiKey?: ApiKeyRecord;
    /**
     * The project the request acts in: everything it makes or reads is that project's. Every
     * request is in DEFAULT_PROJECT until keys carry a project; set here, read by the routes.
     */
    project: string;
  }
}

/** An onRequest hook: a valid Bearer key or 401 (429 past the failure limit). Disabled when auth is off. */
export function requireApiKey(keys: ApiKeyService, enabled: boolean) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    if (!enabled) return;
    request.apiKey = await authenticate(keys, request.headers.authorization, clientAddress(request.raw));
  };
}

/**
 * The key an Authorization header carries. With the client's address, failures count against it
 * (keys.throttle): past the limit the client is refused before its key is looked at, unless the
 * key was verified moments ago (a cache hit costs a guesser nothing and is never slowed).
 * @throws FaasError UNAUTHORIZED when it is missing, malformed, unknown or revoked;
 *   AUTH_THROTTLED (429, details.retryAfterSeconds) while the address is throttled.
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
  if (cached) return cached;
  if (address !== undefined) {
    const waitMs = keys.throttle.retryAfterMs(address);
    if (waitMs > 0) throw throttled(waitMs);
  }
  if (!secret) {
    if (address !== undefined) keys.throttle.fail(address);
    throw new FaasError(ErrorCode.UNAUTHORIZED, 'Malformed Authorization header: expected "Bearer <key>"');
  }
  const key = await keys.verify(secret);
  if (!key) {
    if (address !== undefined) keys.throttle.fail(address);
    throw new FaasError(ErrorCode.UNAUTHORIZED, 'Invalid or revoked API key');
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
  return secret ? keys.verifyCached(secret) : undefined;
}

function bearerSecret(header: string): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
}

/** Throws 403 unless the request's key has the role (always allowed when auth is off). */
export function requireRole(request: FastifyRequest, role: ApiKeyRole): void {
  if (!request.apiKey || role === 'user' || request.apiKey.role === role) return;
  throw new FaasError(ErrorCode.FORBIDDEN, `This needs an ${role} API key`);
}
