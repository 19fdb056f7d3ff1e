import {
  type ApiKeyRecord,
  ErrorCode,
  FaasError,
  SESSION_TTL_MS,
  type Session,
  type SessionStore,
} from '@faas/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Platform } from '../../platform.ts';
import { authenticate } from '../auth.ts';
import { clientAddress } from '../client-address.ts';
import { keyStillActive, SESSION_COOKIE, sessionCookie, sessionIdentity } from '../session/session-auth.ts';

const signInBody = {
  type: 'object',
  additionalProperties: false,
  required: ['key'],
  properties: { key: { type: 'string', minLength: 1, maxLength: 512 } },
};

function cookie(request: FastifyRequest, tls: boolean, value: string, maxAgeSeconds: number): string {
  // Secure when the browser came over TLS: a cookie set over https never travels in clear. A
  // gateway thread hands requests on over a plain socket, so the server's own TLS says it too;
  // behind a proxy that ends TLS, the page's own origin does (a browser's fetch sends it).
  const secure =
    tls || request.protocol === 'https' || /^https:\/\//i.test(String(request.headers.origin ?? ''))
      ? '; Secure'
      : '';
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure}`;
}

function sessionView(session: Session) {
  const { id, name, role, prefix } = session.key;
  return {
    auth: true,
    key: { id, name, role, prefix },
    csrfToken: session.csrfToken,
    expiresAt: new Date(session.expiresAt).toISOString(),
  };
}

/**
 * The console's sign-in: an API key for an HttpOnly session cookie (the key itself never reaches
 * the browser's storage). Outside the /api/v1 key hook: these routes read the cookie themselves.
 */
export function sessionRoutes(app: FastifyInstance, platform: Platform, sessions: SessionStore): void {
  const { keys, config } = platform;
  const tls = config.tlsCert !== undefined;
  const tags = ['session'];

  app.post<{ Body: { key: string } }>(
    '/session',
    { schema: { tags, summary: 'Sign in with an API key: sets the session cookie', body: signInBody } },
    async (request, reply) => {
      if (!config.auth) return { auth: false };
      const key = await authenticate(keys, `Bearer ${request.body.key}`, clientAddress(request.raw));
      if (isToken(key)) throw tokenRefused('A console session');
      const { id, session } = await sessions.create(key);
      reply.header('set-cookie', cookie(request, tls, id, Math.floor(SESSION_TTL_MS / 1000)));
      return reply.status(201).send(sessionView(session));
    },
  );

  app.get(
    '/session',
    { schema: { tags, summary: 'The signed-in session and its CSRF token' } },
    async (request) => {
      if (!config.auth) return { auth: false };
      const id = sessionCookie(request.headers.cookie);
      const session = id && (await sessions.find(id, keyStillActive(keys)));
      if (!session) throw new FaasError(ErrorCode.UNAUTHORIZED, 'Not signed in');
      return sessionView(session);
    },
  );

  app.delete(
    '/session',
    { schema: { tags, summary: 'Sign out: ends the session' } },
    async (request: FastifyRequest, reply: FastifyReply) => {
      const id = sessionCookie(request.headers.cookie);
      if (config.auth && id !== undefined) {
        // A live session signs out only with its CSRF token (another site cannot sign you out).
        await sessionIdentity(keys, sessions, request.method, request.headers, id).catch((err: unknown) => {
          if (err instanceof FaasError && err.code === ErrorCode.FORBIDDEN) throw err;
        });
        await sessions.delete(id);
      }
      reply.header('set-cookie', cookie(request, tls, '', 0));
      return reply.status(204).send();
    },
  );
}

/** POST /instances/{id}/stream-ticket: what a browser opens the instance's WebSocket with. */
export function streamTicketRoutes(app: FastifyInstance, platform: Platform, sessions: SessionStore): void {
  app.post<{ Params: { id: string } }>(
    '/instances/:id/stream-ticket',
    {
      schema: {
        tags: ['instances'],
        summary: 'A single-use ticket (30 s) to open the instance’s WebSocket with ?ticket=',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
      },
    },
    async (request, reply) => {
      if (request.apiKey && isToken(request.apiKey)) throw tokenRefused('A stream ticket');
      // Another project's instance is not found (404), as on every instance route. On a gateway
      // its instance routing found it among the placements already: the instance is on a worker.
      const instanceId = platform.instanceRouting
        ? request.params.id
        : (await platform.instances.get(request.params.id, request.projectScope)).id;
      // With auth off the ticket is not needed, and not checked: the stream is open anyway.
      const { ticket, expiresAt } = await sessions.issueTicket(request.apiKey, instanceId);
      return reply.status(201).send({
        ticket,
        expiresAt: new Date(expiresAt).toISOString(),
        url: `/api/v1/instances/${encodeURIComponent(instanceId)}/stream?ticket=${ticket}`,
      });
    },
  );
}

/**
 * A JWT stands for no stored key: a session or a ticket, which name their key by its hash and look
 * it up again on every use, would end at once. A token is sent on each request instead.
 */
function isToken(key: ApiKeyRecord): boolean {
  return key.hash === '';
}

function tokenRefused(what: string): FaasError {
  return new FaasError(
    ErrorCode.BAD_REQUEST,
    `${what} is made with an API key, not a token (JWT): send the token as Authorization: Bearer on each request`,
  );
}
