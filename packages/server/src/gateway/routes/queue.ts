import type { FastifyInstance } from 'fastify';
import type { Platform } from '../../platform.ts';

/**
 * The async queue's counts, for operators (platform admins: the counts are every project's); dead
 * letters are listed as invocations (status=dead_lettered).
 */
export function queueRoutes(app: FastifyInstance, platform: Platform): void {
  app.get(
    '/queue',
    {
      schema: {
        tags: ['invocations'],
        summary:
          'Async queue counts: depth (due, waiting to run), running (leased), delayed (backing off or scheduled), dead (dead-lettered)',
      },
    },
    async () => {
      const stats = await platform.queue.stats();
      return {
        depth: stats.ready - stats.delayed,
        running: stats.leased,
        delayed: stats.delayed,
        dead: stats.deadLettered,
      };
    },
  );
}
