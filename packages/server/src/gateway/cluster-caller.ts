import { ErrorCode, FaasError } from '@faas/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { routeScope } from '../tenancy/route-scopes.ts';
import { actAs, requireScope } from './auth.ts';
import { clusterSecretCheck, decodePrincipal, PRINCIPAL_HEADER } from './cluster-principal.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** A gateway of the cluster sent it on a user's behalf (it checked the key and audits it). */
    viaGateway: boolean;
  }
}

type Hook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/**
 * A worker's /api/v1 auth: a request a gateway forwards names its caller in the principal header
 * and carries the cluster secret instead of the caller's key; the worker acts as that caller (its
 * project, scopes and the route's scope checked here as for a key). The header without the secret
 * is refused, never ignored: a user cannot name someone else. Any other request is `byKey`'s.
 */
export function acceptGatewayCaller(secret: string, byKey: Hook): Hook {
  const isSecret = clusterSecretCheck(secret);
  return async (request, reply) => {
    const header = request.headers[PRINCIPAL_HEADER];
    if (header === undefined) return byKey(request, reply);
    if (!isSecret(request.headers.authorization) || typeof header !== 'string') {
      throw new FaasError(
        ErrorCode.UNAUTHORIZED,
        'The cluster principal header is taken only from a gateway, with the cluster secret',
      );
    }
    const principal = decodePrincipal(header);
    actAs(request, principal.identity);
    request.project = principal.project;
    request.projectScope = principal.projectScope ?? undefined;
    request.viaGateway = true;
    requireScope(principal.identity, routeScope(request.method, request.routeOptions.url ?? ''));
  };
}
