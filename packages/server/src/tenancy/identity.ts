import type { ApiKeyRecord, ApiKeyRole } from '@faas/core';

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
  allProjects: boolean;
}

/** The header a platform admin names the project it acts in with. */
export const PROJECT_HEADER = 'x-faas-project';

export function identityOfKey(key: ApiKeyRecord): Identity {
  return { keyId: key.id, project: key.project, role: key.role, allProjects: key.role === 'admin' };
}
