import {
  type ApiKeyChanges,
  type ApiKeyRecord,
  type ApiKeyRole,
  ErrorCode,
  FaasError,
  keyScopes,
  type RateLimit,
  ROLE_SCOPES,
  type Scope,
} from '@faas/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Platform } from '../../platform.ts';
import type { Identity } from '../../tenancy/identity.ts';
import { createKeyBody, patchKeyBody } from '../schemas.ts';

interface CreateKey {
  name: string;
  role?: ApiKeyRole;
  project?: string;
  scopes?: Scope[];
  functions?: string[];
  expiresAt?: string;
  rateLimit?: RateLimit;
}

/**
 * API keys. A platform admin makes them in any project; a project's owner in its own, with no
 * more than it has itself (no admin keys, no scope it lacks, and within its own function list,
 * expiry and rate limit).
 */
export function keyRoutes(app: FastifyInstance, platform: Platform): void {
  const { keys, projects } = platform;
  const tags = ['keys'];

  app.post<{ Body: CreateKey }>(
    '/keys',
    {
      schema: {
        tags,
        summary: 'Create an API key in a project (the key is shown once)',
        body: createKeyBody,
      },
    },
    async (request, reply) => {
      const { name, role = 'developer', scopes, functions, expiresAt, rateLimit } = request.body;
      const project = request.body.project ?? request.project;
      if (request.projectScope !== undefined && project !== request.projectScope) {
        // An owner names only its own project: another is as absent as an unknown one.
        throw new FaasError(ErrorCode.PROJECT_NOT_FOUND, `Project "${project}" not found`, {
          details: { name: project },
        });
      }
      await projects.mustExist(project);
      refuseMoreThanCaller(request, role, scopes);
      refuseBeyondCallerLimits(request, { functions, expiresAt, rateLimit });
      if (expiresAt !== undefined) mustBeFuture(expiresAt);
      const { record, key } = await keys.createNamed(name, role, project, {
        ...(scopes ? { scopes } : {}),
        ...(functions ? { functions } : {}),
        ...(expiresAt ? { expiresAt: new Date(expiresAt).toISOString() } : {}),
        ...(rateLimit ? { rateLimit } : {}),
      });
      request.auditProject = project;
      return reply.status(201).send({ ...record, key });
    },
  );

  app.get('/keys', { schema: { tags, summary: 'List active API keys' } }, async (request) => {
    return { items: await keys.list(request.projectScope) };
  });

  app.patch<{ Params: { id: string }; Body: ApiKeyChanges }>(
    '/keys/:id',
    {
      schema: {
        tags,
        summary: "Change an API key's name, rate limit or expiry",
        params: keyIdParams,
        body: patchKeyBody,
      },
    },
    async (request) => {
      const { id } = request.params;
      const { name, rateLimit, expiresAt } = request.body;
      const caller = request.identity;
      if (caller && !caller.allProjects) {
        const target = (await keys.list(request.projectScope)).find((k) => k.id === id);
        if (target?.role === 'admin')
          throw new FaasError(ErrorCode.FORBIDDEN, 'Only a platform admin changes admin keys');
        // As at creation: a key is not changed by one that holds less than it does.
        if (target) refuseScopesBeyondCaller(caller, target, 'changer');
        // A key's limit and expiry are what its maker gave it: lifting them is the maker's.
        if (target?.id === caller.keyId && (rateLimit !== undefined || expiresAt !== undefined))
          throw new FaasError(ErrorCode.FORBIDDEN, 'A key cannot change its own rate limit or expiry', {
            details: { id },
          });
        // A key made within the caller's bounds does not leave them by a change either.
        if (target)
          refuseBeyondCallerLimits(request, {
            functions: target.functions,
            expiresAt: expiresAt === undefined ? target.expiresAt : (expiresAt ?? undefined),
            rateLimit: rateLimit === undefined ? target.rateLimit : (rateLimit ?? undefined),
          });
      }
      if (typeof expiresAt === 'string') mustBeFuture(expiresAt);
      const updated = await keys.update(
        id,
        {
          ...(name !== undefined ? { name } : {}),
          ...(rateLimit !== undefined ? { rateLimit } : {}),
          ...(expiresAt !== undefined ? { expiresAt: expiresAt && new Date(expiresAt).toISOString() } : {}),
        },
        request.projectScope,
      );
      request.auditProject = updated.project;
      return updated;
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/keys/:id',
    { schema: { tags, summary: 'Revoke an API key' } },
    async (request, reply) => {
      if (request.identity && !request.identity.allProjects) {
        // An owner of the default project must not revoke the platform admin's key.
        const target = (await keys.list(request.projectScope)).find((k) => k.id === request.params.id);
        if (target?.role === 'admin')
          throw new FaasError(ErrorCode.FORBIDDEN, 'Only a platform admin revokes admin keys');
        // Nor does an owner with fewer scopes revoke a key with more, as it does not change one;
        // nor one narrowed to functions, expiring or rate limited a key beyond those bounds (a
        // key may always revoke itself).
        if (target && target.id !== request.identity.keyId) {
          refuseScopesBeyondCaller(request.identity, target, 'revoker');
          refuseBeyondCallerLimits(request, target);
        }
      }
      request.auditProject = await keys.revoke(request.params.id, request.projectScope);
      return reply.status(204).send();
    },
  );
}

/** Key ids are `key_` and a short random part; anything else is simply not found, but bounded. */
const keyIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 100 } },
};

/**
 * @throws FaasError VALIDATION unless `expiresAt` is a time to come, in UTC before the year
 * 10000 (an ISO time past it reads back as `+010000-…`, which no time filter takes).
 */
function mustBeFuture(expiresAt: string): void {
  const at = Date.parse(expiresAt);
  const message = Number.isNaN(at)
    ? 'must be a valid date and time (a leap second is not one)'
    : at <= Date.now()
      ? 'must be a time in the future'
      : new Date(at).getUTCFullYear() > 9999
        ? 'must be before the year 10000 (UTC)'
        : undefined;
  if (message === undefined) return;
  throw new FaasError(ErrorCode.VALIDATION, `expiresAt ${message}`, {
    details: [{ field: 'expiresAt', message }],
  });
}

/** @throws FaasError FORBIDDEN when the new key would hold what its maker does not. */
function refuseMoreThanCaller(request: FastifyRequest, role: ApiKeyRole, scopes: Scope[] | undefined): void {
  const caller = request.identity;
  if (!caller || caller.allProjects) return;
  if (role === 'admin') throw new FaasError(ErrorCode.FORBIDDEN, 'Only a platform admin makes admin keys');
  const wanted = scopes ?? keyScopesOfRole(role);
  const missing = wanted.filter((s) => !caller.scopes.includes(s));
  if (missing.length > 0) {
    throw new FaasError(
      ErrorCode.FORBIDDEN,
      `A key cannot be given scopes its maker lacks: ${missing.join(', ')}`,
      {
        details: { scopes: missing },
      },
    );
  }
}

/** @throws FaasError FORBIDDEN when `target` holds a scope `caller` lacks (PATCH and DELETE). */
function refuseScopesBeyondCaller(
  caller: Identity,
  target: Pick<ApiKeyRecord, 'role' | 'scopes'>,
  as: 'changer' | 'revoker',
): void {
  const beyond = keyScopes(target).filter((scope) => !caller.scopes.includes(scope));
  if (beyond.length > 0)
    throw new FaasError(ErrorCode.FORBIDDEN, `A key holding scopes its ${as} lacks: ${beyond.join(', ')}`, {
      details: { scopes: beyond },
    });
}

/** The bounds a key gets or keeps: its functions, expiry and rate limit (absent: none). */
interface KeyLimits {
  functions?: string[] | undefined;
  expiresAt?: string | undefined;
  rateLimit?: RateLimit | undefined;
}

/**
 * A caller narrowed to functions, expiring or rate limited gives no key more: a non-empty part of
 * its functions, an expiry no later, a rate limit no looser. The caller's bounds are its key's:
 * a JWT's record carries the token's exp and FAAS_JWT_RATE_LIMIT_*, a session's is its key.
 * @throws FaasError FORBIDDEN naming each bound the key would exceed
 */
function refuseBeyondCallerLimits(request: FastifyRequest, wanted: KeyLimits): void {
  const caller = request.identity;
  if (!caller || caller.allProjects) return;
  const own = request.apiKey;
  const exceeded: string[] = [];
  const details: Record<string, unknown> = {};
  if (caller.functions) {
    const outside = (wanted.functions ?? []).filter((f) => !caller.functions?.includes(f));
    if (!wanted.functions || wanted.functions.length === 0 || outside.length > 0) {
      exceeded.push(
        outside.length > 0
          ? `functions: ${outside.join(', ')} not among ${caller.functions.join(', ')}`
          : `functions: it must be limited to some of ${caller.functions.join(', ')}`,
      );
      details.functions = caller.functions;
    }
  }
  if (own?.expiresAt !== undefined) {
    if (wanted.expiresAt === undefined || Date.parse(wanted.expiresAt) > Date.parse(own.expiresAt)) {
      exceeded.push(`expiresAt: it must expire by ${own.expiresAt}`);
      details.expiresAt = own.expiresAt;
    }
  }
  if (own?.rateLimit !== undefined) {
    const limit = wanted.rateLimit;
    if (
      limit === undefined ||
      limit.requestsPerSecond > own.rateLimit.requestsPerSecond ||
      limit.burst > own.rateLimit.burst
    ) {
      exceeded.push(
        `rateLimit: it must be at most ${own.rateLimit.requestsPerSecond}/s, burst ${own.rateLimit.burst}`,
      );
      details.rateLimit = own.rateLimit;
    }
  }
  if (exceeded.length > 0)
    throw new FaasError(
      ErrorCode.FORBIDDEN,
      `A key cannot reach further than the key that makes, changes or revokes it: ${exceeded.join('; ')}`,
      { details },
    );
}

function keyScopesOfRole(role: ApiKeyRole): readonly Scope[] {
  return ROLE_SCOPES[role];
}
