import type { SessionStore } from '@faas/core';
import { DEFAULT_PROJECT, type FunctionVersion, shownName } from '@faas/core';
import type { ApiKeyService } from '../../control/api-key-service.ts';
import { notFound } from '../../control/function-catalog.ts';
import { actingProject, identityOfKey, reachesFunction } from '../../tenancy/identity.ts';
import { authenticate, authenticateCached, missingKey, requireScope } from '../auth.ts';
import { sessionCookie, sessionIdentity } from '../session/session-auth.ts';
import type { FunctionAccess, ProjectGuess, RequestHook } from './invoke-pipeline.ts';
import { routeNotFound } from './invoke-target.ts';

/**
 * The invoke pipeline's authentication: the API's invoke needs a key, or with `sessions` the
 * console's session cookie (and, being a write, its CSRF token). An HTTP trigger's Authorization
 * header may be the platform's key (a function that is not public needs one: see functionAccess)
 * or the application's own credential for a public function, so a trigger's failed
 * authentication is kept for functionAccess to throw, not thrown here; a trigger takes no
 * session. Answered from the key cache without a turn of the event loop when it can be; failures
 * count against the client's address (the auth throttle).
 */
export function authHook(keys: ApiKeyService, sessions?: SessionStore): RequestHook {
  return (context) => {
    const header = context.head.headers.authorization;
    const api = context.target.kind === 'api';
    const session =
      api && sessions && header === undefined ? sessionCookie(context.head.headers.cookie) : undefined;
    if (sessions && session !== undefined) {
      const { method, headers } = context.head;
      return sessionIdentity(keys, sessions, method, headers, session).then((key) => {
        context.apiKey = key;
      });
    }
    if (!api && header === undefined) return;
    const cached = authenticateCached(keys, header);
    if (cached) {
      context.apiKey = cached;
      return;
    }
    const verified = authenticate(keys, header, context.head.remoteAddress).then((key) => {
      context.apiKey = key;
    });
    if (api) return verified;
    return verified.catch((err: unknown) => {
      context.authError = err;
    });
  };
}

/**
 * Who may invoke a function, once it is known: a key of its project (or a platform admin's);
 * anyone through an HTTP trigger when the function is public. A key of another project finds
 * nothing (404), as the API's other routes answer, and its declared routes are no routes to it;
 * no key gets 401.
 */
export function functionAccess(): FunctionAccess {
  return (context, fn: FunctionVersion) => {
    if (fn.public && context.target.kind === 'http') return;
    const key = context.apiKey;
    if (!key) throw context.authError ?? missingKey();
    const identity = identityOfKey(key);
    if (
      (!identity.allProjects && identity.project !== (fn.project ?? DEFAULT_PROJECT)) ||
      !reachesFunction(identity, shownName(fn.name))
    ) {
      // The caller named a function in /fn/{name} or the API; a declared route named none.
      const declared = context.target.kind === 'http' && context.target.declared;
      throw declared ? routeNotFound(context.head) : notFound(fn.name);
    }
    requireScope(identity, 'functions:invoke');
  };
}

/**
 * The project a request's credentials name, before the hooks have checked them: a gateway thread
 * needs the function (and so its project) to choose which thread runs it. Whatever it guesses,
 * the pipeline looks the name up again with the checked key; a credential that does not verify
 * guesses the default project and is refused by the hooks.
 */
export function projectGuess(keys: ApiKeyService): ProjectGuess {
  return (head) => {
    const header = head.headers.authorization;
    if (header === undefined) return DEFAULT_PROJECT;
    const cached = authenticateCached(keys, header);
    if (cached) return actingProject(cached, head.headers);
    const secret = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
    // A throttled address gets no look-up here either: the hooks refuse it without one.
    if (!secret || keys.throttle.retryAfterMs(head.remoteAddress) > 0) return DEFAULT_PROJECT;
    return keys.verify(secret).then(
      (key) => actingProject(key, head.headers),
      () => DEFAULT_PROJECT,
    );
  };
}
