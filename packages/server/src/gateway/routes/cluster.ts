import type { FastifyInstance } from 'fastify';
import type { Platform } from '../../platform.ts';

/** The cluster's workers as their heartbeats describe them, for operators (platform admins). */
export function clusterRoutes(app: FastifyInstance, platform: Platform): void {
  app.get(
    '/cluster/nodes',
    {
      schema: {
        tags: ['cluster'],
        summary:
          'Workers in the cluster: address, capacity, load score, running calls, warm versions, instances and restore standbys; empty for a single server (FAAS_ROLE=all)',
      },
    },
    async () => ({ items: platform.cluster ? await platform.cluster.registry.list() : [] }),
  );
}
