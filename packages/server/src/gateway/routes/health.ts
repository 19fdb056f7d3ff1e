import { type BackendHealth, keyScopes } from '@faas/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Platform } from '../../platform.ts';
import { authenticate } from '../auth.ts';
import { clientAddress } from '../client-address.ts';

export function healthRoutes(app: FastifyInstance, platform: Platform): void {
  app.get('/health', { schema: { tags: ['health'], summary: 'Liveness' } }, async () => ({ status: 'ok' }));

  app.get(
    '/ready',
    {
      schema: {
        tags: ['health'],
        summary:
          "Store, queue, blob store, invocation records and runtimes ready; each check names what fails (the reason only to a platform admin's key)",
      },
    },
    async (request, reply) => {
      // Draining (SIGTERM): not ready, whatever the backends say, so load balancers stop sending work here.
      if (platform.draining)
        return reply.status(503).send({ status: 'draining', checks: { node: 'draining' } });
      const checks: Record<string, string> = {};
      let storeOk = true;
      try {
        await platform.store.ping();
      } catch (err) {
        storeOk = false;
        checks.store = `unavailable: ${(err as Error).message}`;
      }
      if (storeOk) {
        const health = await platform.store.health();
        storeOk = health.ok;
        checks.store = describe(health);
      }
      const queue = await platform.queue.health();
      checks.queue = describe(queue);
      const blobs = await platform.blobs.health();
      checks.blobs = describe(blobs);
      // Sync invocations' records, written in batches: failing while the store refuses them.
      const records = platform.recorder.health();
      checks.records = describe(records);
      let anyRuntime = false;
      for (const [kind, health] of await platform.runtimes.refreshHealth()) {
        checks[kind] = health.ready ? 'ok' : `unavailable: ${health.reason}`;
        anyRuntime ||= health.ready;
      }
      const ready = storeOk && queue.ok && blobs.ok && records.ok && anyRuntime;
      if (!(await seesReasons(platform, request))) {
        for (const [name, check] of Object.entries(checks)) checks[name] = withoutReason(check);
      }
      return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
    },
  );
}

function describe(health: BackendHealth): string {
  return health.ok ? 'ok' : `failing (${health.code}): ${health.reason}`;
}

/**
 * Reasons name the backends' hosts and ports and their errors: the anonymous callers /ready is
 * for (probes, load balancers) get each check's state and code, a platform admin's key that
 * kept `cluster:read` (or any caller with auth off) the whole. A wrong key counts as a failed
 * authentication, as anywhere.
 */
async function seesReasons(platform: Platform, request: FastifyRequest): Promise<boolean> {
  if (!platform.config.auth) return true;
  const header = request.headers.authorization;
  if (!header) return false;
  const key = await authenticate(platform.keys, header, clientAddress(request.raw)).catch(() => undefined);
  return key?.role === 'admin' && keyScopes(key).includes('cluster:read');
}

/** `failing (CODE): reason` → `failing (CODE)`; `unavailable: reason` → `unavailable`. */
function withoutReason(check: string): string {
  const colon = check.indexOf(': ');
  return colon === -1 ? check : check.slice(0, colon);
}
