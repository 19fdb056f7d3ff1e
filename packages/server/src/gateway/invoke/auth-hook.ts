import type { ApiKeyService } from '../../control/api-key-service.ts';
import { authenticate, authenticateCached } from '../auth.ts';
import type { RequestHook } from './invoke-pipeline.ts';

/**
 * The invoke pipeline's authentication: the API's invoke needs a key; HTTP triggers do not.
 * Answered from the key cache without a turn of the event loop when it can be; failures count
 * against the client's address (the auth throttle).
 */
export function authHook(keys: ApiKeyService): RequestHook {
  return (context) => {
    if (context.target.kind !== 'api') return;
    const header = context.head.headers.authorization;
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
