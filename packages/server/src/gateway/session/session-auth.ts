import type { IncomingHttpHeaders } from 'node:http';
import type { ApiKeyRecord } from '@faas/core';
import { type ActiveKey, csrfMatches, ErrorCode, FaasError, type SessionStore } from '@faas/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeyService } from '../../control/api-key-service.ts';
import type { ProjectService } from '../../tenancy/project-service.ts';
import { authorize, requireApiKey } from '../auth.ts';

/** The console's session cookie: a random id, HttpOnly, SameSite=Strict. */
export const SESSION_COOKIE = 'faas_session';
/** Where cookie-authenticated writes carry their session's CSRF token. */
export const CSRF_HEADER = 'x-csrf-token';
/** Methods that change nothing: they need no CSRF token. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The session id a Cookie header carries, if any. */
export function sessionCookie(header: string | undefined): string | undefined {
  if (!header?.includes(SESSION_COOKIE)) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) {
      const value = part.slice(eq + 1).trim();
      return value.length > 0 ? value : undefined;
    }
  }
  return undefined;
}

/** Whether a request carries a session cookie (and no key): who serves it must know sessions. */
export function usesSession(headers: IncomingHttpHeaders): boolean {
  return headers.authorization === undefined && sessionCookie(headers.cookie) !== undefined;
}

/** Asks the store whether a session's key is still active (revoked keys end their sessions). */
export function keyStillActive(keys: ApiKeyService): ActiveKey {
  return (keyHash) => keys.verifyHash(keyHash);
}

/**
 * The active, unexpired key with this sha256 (a ticket's or a session's), asked of the store.
 * @throws FaasError UNAUTHORIZED with `message` when it is unknown, revoked or expired
 */
async function activeKey(keys: ApiKeyService, hash: string, message: string): Promise<ApiKeyRecord> {
  const key = await keys.verifyHash(hash);
  if (!key || (key.expiresAt !== undefined && Date.parse(key.expiresAt) <= Date.now())) {
    throw new FaasError(ErrorCode.UNAUTHORIZED, message);
  }
  return key;
}

/**
 * The identity a session cookie stands for.
 * @throws FaasError UNAUTHORIZED for an unknown, expired or signed-out session; FORBIDDEN for a
 *   write without the session's CSRF token, or a WebSocket opened from another origin.
 */
export async function sessionIdentity(
  keys: ApiKeyService,
  sessions: SessionStore,
  method: string,
  headers: IncomingHttpHeaders,
  id: string,
): Promise<ApiKeyRecord> {
  const session = await sessions.find(id, keyStillActive(keys));
  if (!session) throw new FaasError(ErrorCode.UNAUTHORIZED, 'The session has ended: sign in again');
  // A session lasts no longer than its key: one signed in with a key about to expire ends with it.
  const { expiresAt } = session.key;
  if (expiresAt !== undefined && Date.parse(expiresAt) <= Date.now()) {
    throw new FaasError(ErrorCode.UNAUTHORIZED, 'The key this session was signed in with has expired', {
      details: { expiredAt: expiresAt },
    });
  }
  if (!SAFE_METHODS.has(method) && !csrfMatches(session, headerText(headers[CSRF_HEADER]))) {
    throw new FaasError(
      ErrorCode.FORBIDDEN,
      `A write made with the session cookie needs the session's CSRF token in "${CSRF_HEADER}"`,
    );
  }
  // SameSite keeps the cookie off other sites' requests; a WebSocket is also checked by origin,
  // as the browser sends it: CORS does not apply to WebSockets.
  if (headers.upgrade !== undefined && !sameOrigin(headers)) {
    throw new FaasError(
      ErrorCode.FORBIDDEN,
      'A WebSocket opened with the session cookie must come from this origin',
    );
  }
  return session.key;
}

function sameOrigin(headers: IncomingHttpHeaders): boolean {
  const origin = headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === headers.host;
  } catch {
    return false;
  }
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Routes that take a `?ticket=` from POST /instances/{id}/stream-ticket instead of a key. */
const TICKET_ROUTES = new Set(['/api/v1/instances/:id/stream', '/api/v1/containers/:id/stream']);

/**
 * The /api/v1 onRequest hook: a Bearer key as requireApiKey checks it; without an Authorization
 * header, a stream ticket (on the stream routes) or the console's session cookie. Disabled when
 * auth is off.
 */
export function requireKeyOrSession(
  keys: ApiKeyService,
  sessions: SessionStore,
  enabled: boolean,
  projects: ProjectService,
) {
  const byKey = requireApiKey(keys, enabled, projects);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!enabled) return;
    if (request.headers.authorization === undefined) {
      const ticket = (request.query as { ticket?: unknown } | undefined)?.ticket;
      if (typeof ticket === 'string' && TICKET_ROUTES.has(request.routeOptions.url ?? '')) {
        const instanceId = (request.params as { id?: string }).id ?? '';
        const redeemed = await sessions.redeemTicket(ticket, instanceId);
        const keyHash = redeemed?.keyHash;
        if (keyHash === undefined) {
          throw new FaasError(ErrorCode.UNAUTHORIZED, 'The stream ticket is unknown, used or expired');
        }
        // The key is looked up again: a ticket of a key revoked or expired since opens nothing.
        await authorize(
          request,
          await activeKey(
            keys,
            keyHash,
            'The stream ticket is unknown, used or expired, or its key is revoked or expired',
          ),
          projects,
        );
        request.recheckCredential = () =>
          activeKey(keys, keyHash, 'The key this stream was opened with is revoked or expired');
        return;
      }
      const id = sessionCookie(request.headers.cookie);
      if (id !== undefined) {
        const { method, headers } = request;
        const key = await sessionIdentity(keys, sessions, method, headers, id);
        await authorize(request, key, projects);
        // Signed out, or its key revoked: the store is asked on each check, not the sessions'
        // key cache, so an open stream ends within one interval as its requests do.
        request.recheckCredential = async () => {
          const { hash } = await sessionIdentity(keys, sessions, method, headers, id);
          await activeKey(keys, hash, "The session's key is revoked or expired: sign in again");
        };
        return;
      }
    }
    return byKey(request, reply);
  };
}
