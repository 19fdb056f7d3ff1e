import type { AuditFilter } from '@faas/core';
import type { FastifyInstance } from 'fastify';
import type { Platform } from '../../platform.ts';
import { pageQuery } from '../schemas.ts';
import { timeFilter } from '../time-filter.ts';

interface AuditQuery {
  limit?: number;
  cursor?: string;
  action?: string;
  actorKeyId?: string;
  since?: string;
  until?: string;
}

const auditQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...pageQuery.properties,
    action: { type: 'string', maxLength: 200 },
    actorKeyId: { type: 'string', maxLength: 80 },
    since: { type: 'string', format: 'date-time' },
    until: { type: 'string', format: 'date-time' },
  },
};

/** `GET /api/v1/audit`: the changes made in the key's project (all of them, for an admin), newest first. */
export function auditRoutes(app: FastifyInstance, platform: Platform): void {
  app.get<{ Querystring: AuditQuery }>(
    '/audit',
    {
      schema: {
        tags: ['audit'],
        summary: 'Changes made through the API, newest first',
        querystring: auditQuery,
      },
    },
    async (request) => {
      const { limit, cursor, action, actorKeyId } = request.query;
      const filter: AuditFilter = {};
      if (request.projectScope !== undefined) filter.project = request.projectScope;
      if (action) filter.action = action;
      if (actorKeyId) filter.actorKeyId = actorKeyId;
      // A key narrowed to functions sees the changes of those, as it sees only their invocations.
      const narrowed = request.identity?.functions;
      if (narrowed) filter.targets = narrowed.map((name) => `functions/${name}`);
      Object.assign(filter, timeFilter(request.query));
      return platform.store.listAudit(filter, { ...(limit ? { limit } : {}), ...(cursor ? { cursor } : {}) });
    },
  );
}
