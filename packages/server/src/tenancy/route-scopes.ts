import type { Scope } from '@faas/core';

/**
 * The scope each route of the API needs, by method and Fastify path (docs/security.md shows the
 * same table; a test holds them equal and walks it for every role). A route missing here stops
 * the server at start (assertEveryRouteScoped), so a new route cannot go unguarded.
 */
export const ROUTE_SCOPES: Readonly<Record<string, Scope>> = {
  'GET /api/v1/projects': 'projects:read',
  'GET /api/v1/projects/:name': 'projects:read',
  'POST /api/v1/projects': 'projects:write',
  'PATCH /api/v1/projects/:name': 'settings:write',
  'GET /api/v1/keys': 'keys:read',
  'POST /api/v1/keys': 'keys:write',
  'PATCH /api/v1/keys/:id': 'keys:write',
  'DELETE /api/v1/keys/:id': 'keys:write',
  // Names and times only: values never leave through the API.
  'GET /api/v1/secrets': 'secrets:read',
  'PUT /api/v1/secrets/:name': 'secrets:write',
  'DELETE /api/v1/secrets/:name': 'secrets:write',

  'GET /api/v1/functions': 'functions:read',
  'POST /api/v1/functions': 'functions:write',
  'GET /api/v1/functions/:name': 'functions:read',
  'PUT /api/v1/functions/:name': 'functions:write',
  'PATCH /api/v1/functions/:name': 'functions:write',
  'DELETE /api/v1/functions/:name': 'functions:write',
  'GET /api/v1/functions/:name/versions': 'functions:read',
  'GET /api/v1/functions/:name/versions/:version': 'functions:read',
  'GET /api/v1/functions/:name/versions/:version/code': 'functions:read',
  'POST /api/v1/functions/:name/invoke': 'functions:invoke',

  'GET /api/v1/invocations': 'invocations:read',
  'GET /api/v1/invocations/:id': 'invocations:read',
  'POST /api/v1/invocations/:id/retry': 'invocations:write',
  'GET /api/v1/logs': 'invocations:read',
  'GET /api/v1/logs/stream': 'invocations:read',
  'GET /api/v1/stats': 'invocations:read',
  'GET /api/v1/functions/:name/stats': 'invocations:read',
  'GET /api/v1/queue': 'queue:read',
  'GET /api/v1/cluster/nodes': 'cluster:read',
  'GET /api/v1/audit': 'audit:read',

  'POST /api/v1/execute': 'sandboxes:write',
  'POST /api/v1/execute/stream': 'sandboxes:write',
  'POST /api/v1/execute/advanced': 'sandboxes:write',
  'GET /api/v1/instances': 'sandboxes:read',
  'POST /api/v1/instances': 'sandboxes:write',
  'GET /api/v1/instances/:id': 'sandboxes:read',
  'DELETE /api/v1/instances/:id': 'sandboxes:write',
  'POST /api/v1/instances/:id/exec': 'sandboxes:write',
  'POST /api/v1/instances/:id/stop': 'sandboxes:write',
  'POST /api/v1/instances/:id/start': 'sandboxes:write',
  'GET /api/v1/instances/:id/files': 'sandboxes:read',
  'PUT /api/v1/instances/:id/files': 'sandboxes:write',
  'GET /api/v1/instances/:id/files/tar': 'sandboxes:read',
  'POST /api/v1/instances/:id/files/tar': 'sandboxes:write',
  'GET /api/v1/instances/:id/events': 'sandboxes:read',
  // The stream takes commands (exec, stdin, signals, checkpoint): writing.
  'GET /api/v1/instances/:id/stream': 'sandboxes:write',
  'GET /api/v1/containers/:id/stream': 'sandboxes:write',
  // A ticket opens the stream once, for the key that asked for it.
  'POST /api/v1/instances/:id/stream-ticket': 'sandboxes:write',
  'GET /api/v1/snapshots': 'sandboxes:read',
  'POST /api/v1/snapshots': 'sandboxes:write',
  'GET /api/v1/snapshots/:id': 'sandboxes:read',
  'DELETE /api/v1/snapshots/:id': 'sandboxes:write',
  'POST /api/v1/snapshots/:id/restore': 'sandboxes:write',
  'POST /api/v1/snapshots/:id/fork': 'sandboxes:write',
};

/** The scope a route needs; HEAD is GET's. undefined: not in the table. */
export function routeScope(method: string, url: string): Scope | undefined {
  return ROUTE_SCOPES[`${method === 'HEAD' ? 'GET' : method} ${url}`];
}

/**
 * @throws Error naming the routes under /api/v1 that have no scope (called as routes register).
 */
export function assertRouteScoped(method: string | string[], url: string): void {
  if (!url.startsWith('/api/v1/')) return;
  for (const m of Array.isArray(method) ? method : [method]) {
    if (m === 'HEAD' || m === 'OPTIONS') continue;
    if (!routeScope(m, url)) throw new Error(`Route ${m} ${url} has no scope in tenancy/route-scopes.ts`);
  }
}
