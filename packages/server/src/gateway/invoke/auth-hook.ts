import type { ApiKeyService } from '../../control/api-key-service.ts';
import { authenticate, authenticateCached } from '../auth.ts';
import { sessionCookie, sessionIdentity } from '../session/session-auth.ts';
import type { SessionStore } from '../session/session-store.ts';
import type { RequestHook } from './invoke-pipeline.ts';

/**
 * The invoke pipeline's authentication: the API's invoke needs a key; HTTP triggers do not.
 * Answered from the key cache without a turn of the event loop when it can be; failures count
 * against the client's address (the auth throttle). With `sessions`, a request without a key may
 * come with the console's session cookie (and, being a write, its CSRF token).
 */
export function authHook(keys: ApiKeyService, sessions?: SessionStore): RequestHook {
  return (context) => {
    if (context.target.kind !== 'api') return;
    const header = context.head.headers.authorization;
    const session = sessions && header === undefined ? sessionCookie(context.head.headers.cookie) : undefined;
    if (sessions && session !== undefined) {
      const { method, headers } = context.head;
      return sessionIdentity(keys, sessions, method, headers, session).then((key) => {
        context.apiKey = key;
      });
    }
    const cached = authenticateCached(keys, header);
    if (cached) {
      context.apiKey = cached;
      return;
    }
    return authenticate(keys, header, context.head.remoteAddress).then((key) => {
      context.apiKey = key;
    });
  };
}
