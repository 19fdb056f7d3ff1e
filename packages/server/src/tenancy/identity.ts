import type { IncomingHttpHeaders } from 'node:http';
import {
  type ApiKeyRecord,
  type ApiKeyRole,
  DEFAULT_PROJECT,
  isProjectId,
  keyScopes,
  type Scope,
} from '@faas/core';

/**
 * Who a request acts as, whatever proved it (an API key today; a browser session or a JWT maps
 * to the same plain object). `allProjects` is the platform admin's: it sees every project, and
 * makes things in `project` (its key's, or the one the request names with X-Faas-Project).
 */
export interface Identity {
  /** The API key that authenticated the request (a session or token names the key it maps to). */
  keyId: string;
  project: string;
  role: ApiKeyRole;
  /** What it may do (its role's, narrowed to the key's own list). */
  scopes: Scope[];
  /** Only these functions of the project (a narrowed key). Absent: all. */
  functions?: string[];
  allProjects: boolean;
}

/** The header a platform admin names the project it acts in with. */
export const PROJECT_HEADER = 'x-faas-project';

/**
 * The project a request with `key` acts in, where names are looked up: its key's, or for a
 * platform admin the one X-Faas-Project names; no key (auth off, a public trigger): the default.
 * A named project that does not exist holds no function, so its names are simply not found.
 */
export function actingProject(key: ApiKeyRecord | undefined, headers: IncomingHttpHeaders): string {
  if (!key) return DEFAULT_PROJECT;
  const named = headers[PROJECT_HEADER];
  if (key.role === 'admin' && typeof named === 'string' && isProjectId(named)) return named;
  return key.project;
}

/** Keys' identities, made once per record (the key cache keeps the records). */
const identities = new WeakMap<ApiKeyRecord, Identity>();

export function identityOfKey(key: ApiKeyRecord): Identity {
  let identity = identities.get(key);
  if (!identity) {
    identity = {
      keyId: key.id,
      project: key.project,
      role: key.role,
      scopes: keyScopes(key),
      ...(key.functions ? { functions: key.functions } : {}),
      allProjects: key.role === 'admin',
    };
    identities.set(key, identity);
  }
  return identity;
}

/** Whether a narrowed key reaches the function (a key that is not narrowed reaches all). */
export function reachesFunction(identity: Identity, name: string): boolean {
  return !identity.functions || identity.functions.includes(name);
}
