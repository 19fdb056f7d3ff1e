import { type AuditEntry, type MetadataStore, newId } from '@faas/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ROUTE_SCOPES } from '../tenancy/route-scopes.ts';
import { clientAddress } from './client-address.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The project a change was made in, when it is not the request's own: a platform admin's
     * key, project or settings change of another project is that project's to see in its trail,
     * never the admin's project's.
     */
    auditProject?: string;
  }
}

/**
 * Records every change made through the API: a request to a route whose scope writes
 * (`…:write`, ROUTE_SCOPES) that succeeded. Written after the answer, so it never delays one; a
 * failed write is logged, since the change itself has been made.
 */
export function auditTrail(store: Pick<MetadataStore, 'appendAudit'>, logger: Pick<Console, 'error'>) {
  return (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    done();
    const action = `${request.method} ${request.routeOptions.url ?? ''}`;
    if (!ROUTE_SCOPES[action]?.endsWith(':write') || reply.statusCode >= 400) return;
    // The gateway that took the caller's request records it, with the caller's key.
    if (request.viaGateway) return;
    const key = request.apiKey;
    const target = targetOf(request);
    const entry: AuditEntry = {
      id: newId('aud'),
      at: new Date().toISOString(),
      project: request.auditProject ?? request.project,
      // With FAAS_AUTH=false nobody is named: every request is the platform's.
      actor: key
        ? { keyId: key.id, keyName: key.name, role: key.role }
        : { keyId: '', keyName: '(auth off)', role: 'admin' },
      action,
      ...(target ? { target } : {}),
      status: reply.statusCode,
      address: clientAddress(request.raw),
    };
    store.appendAudit(entry).catch((err: unknown) => logger.error('writing the audit trail failed', err));
  };
}

/** `functions/hello`, `keys/key_…`: the route's object, by its parameter or the name it was given. */
function targetOf(request: FastifyRequest): string | undefined {
  const kind = /^\/api\/v1\/([a-z-]+)/.exec(request.routeOptions.url ?? '')?.[1];
  if (!kind) return undefined;
  const params = (request.params ?? {}) as Record<string, unknown>;
  const body = request.body as { name?: unknown } | undefined;
  const named = params.name ?? params.id ?? (typeof body?.name === 'string' ? body.name : undefined);
  if (typeof named !== 'string') return kind;
  return params.version === undefined ? `${kind}/${named}` : `${kind}/${named}/versions/${params.version}`;
}
