import type { FastifyInstance } from 'fastify';
import type { Platform } from '../../platform.ts';

export function healthRoutes(app: FastifyInstance, platform: Platform): void {
  app.get('/health', { schema: { tags: ['health'], summary: 'Liveness' } }, async () => ({ status: 'ok' }));

  app.get(
    '/ready',
    { schema: { tags: ['health'], summary: 'Store and runtimes ready' } },
    async (_request, reply) => {
      const checks: Record<string, string> = {};
      let storeOk = true;
      try {
        await platform.store.ping();
        checks.store = 'ok';
      } catch (err) {
        storeOk = false;
        checks.store = `unavailable: ${(err as Error).message}`;
      }
      let anyRuntime = false;
      for (const [kind, health] of await platform.runtimes.refreshHealth()) {
        checks[kind] = health.ready ? 'ok' : `unavailable: ${health.reason}`;
        anyRuntime ||= health.ready;
      }
      const ready = storeOk && anyRuntime;
      return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
    },
  );
}
