import { createHash, timingSafeEqual } from 'node:crypto';
import { API_KEY_ROLES, type ApiKeyRole, ErrorCode, FaasError, isProjectId, type Scope } from '@faas/core';
import type { FastifyRequest } from 'fastify';
import { clusterAuthValue } from '../cluster/wire.ts';
import type { Identity } from '../tenancy/identity.ts';

export { PRINCIPAL_HEADER } from '../cluster/wire.ts';

/** What the gateway resolved from the caller's key, session or token. */
export interface ClusterPrincipal {
  identity: Identity;
  /** The project it makes things in (its key's, or the one a platform admin named). */
  project: string;
  /** The project whose objects it sees; null: every project (a platform admin naming none). */
  projectScope: string | null;
}

/** The largest principal header taken: an identity is a few hundred bytes, a narrowed key's list more. */
const MAX_PRINCIPAL_BYTES = 64 * 1024;
/** Every role a key can have, `user` (a developer's old name) too: a list of its own would drift. */
const ROLES: ReadonlySet<string> = new Set(API_KEY_ROLES);

export function encodePrincipal(principal: ClusterPrincipal): string {
  return Buffer.from(JSON.stringify(principal)).toString('base64url');
}

/** The principal header of a request the gateway authenticated; undefined with auth off. */
export function principalOf(request: FastifyRequest): string | undefined {
  if (!request.identity) return undefined;
  return encodePrincipal({
    identity: request.identity,
    project: request.project,
    projectScope: request.projectScope ?? null,
  });
}

/**
 * The principal a header carries.
 * @throws FaasError UNAUTHORIZED for anything that is not one (it only comes from a gateway)
 */
export function decodePrincipal(header: string): ClusterPrincipal {
  const refuse = () => new FaasError(ErrorCode.UNAUTHORIZED, 'The cluster principal header is malformed');
  if (header.length > MAX_PRINCIPAL_BYTES) throw refuse();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
  } catch {
    throw refuse();
  }
  const p = value as Partial<ClusterPrincipal> | null;
  const identity = p?.identity as Partial<Identity> | undefined;
  if (
    typeof p !== 'object' ||
    p === null ||
    typeof p.project !== 'string' ||
    !isProjectId(p.project) ||
    (p.projectScope !== null && (typeof p.projectScope !== 'string' || !isProjectId(p.projectScope))) ||
    typeof identity !== 'object' ||
    identity === null ||
    typeof identity.keyId !== 'string' ||
    typeof identity.project !== 'string' ||
    typeof identity.role !== 'string' ||
    !ROLES.has(identity.role) ||
    typeof identity.allProjects !== 'boolean' ||
    !Array.isArray(identity.scopes) ||
    !identity.scopes.every((s) => typeof s === 'string') ||
    (identity.functions !== undefined &&
      (!Array.isArray(identity.functions) || !identity.functions.every((f) => typeof f === 'string')))
  ) {
    throw refuse();
  }
  return {
    identity: {
      keyId: identity.keyId,
      project: identity.project,
      role: identity.role as ApiKeyRole,
      scopes: identity.scopes as Scope[],
      ...(identity.functions ? { functions: identity.functions } : {}),
      allProjects: identity.allProjects,
    },
    project: p.project,
    projectScope: p.projectScope ?? null,
  };
}

/**
 * Whether a request's Authorization header is the cluster secret, compared in constant time
 * (digests of equal length, so the length leaks nothing either).
 */
export function clusterSecretCheck(secret: string): (given: string | string[] | undefined) => boolean {
  const expected = digest(clusterAuthValue(secret));
  return (given) => typeof given === 'string' && timingSafeEqual(digest(given), expected);
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
