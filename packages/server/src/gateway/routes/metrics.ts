import { ErrorCode, FaasError } from '@faas/core';
import type { FastifyInstance } from 'fastify';
import { METRICS_CONTENT_TYPE, metricsTokenMatches } from '../../observability/metrics-scrape.ts';
import type { Platform } from '../../platform.ts';
import { identityOfKey } from '../../tenancy/identity.ts';
import { authenticate } from '../auth.ts';
import { clientAddress } from '../client-address.ts';

/**
 * `GET /metrics`: this node's metrics in Prometheus text format, every gateway thread's merged.
 * With FAAS_METRICS_TOKEN, that bearer token and nothing else (a scraper holds no user's key).
 * Without it, a platform admin's key: the series name every project's functions, which no
 * project may see of another. Open only when auth is off.
 */
export function metricsRoutes(app: FastifyInstance, platform: Platform): void {
  const token = platform.config.metricsToken;
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['health'],
        summary: 'Prometheus metrics of this node (bearer FAAS_METRICS_TOKEN when set)',
      },
    },
    async (request, reply) => {
      if (token !== undefined) {
        if (!metricsTokenMatches(request.headers.authorization, token)) {
          throw new FaasError(
            ErrorCode.UNAUTHORIZED,
            'GET /metrics needs the bearer token FAAS_METRICS_TOKEN',
          );
        }
      } else if (platform.config.auth) {
        const key = await authenticate(
          platform.keys,
          request.headers.authorization,
          clientAddress(request.raw),
        );
        if (!identityOfKey(key).allProjects) {
          throw new FaasError(
            ErrorCode.FORBIDDEN,
            "GET /metrics names every project's functions: it needs a platform admin's key, or set FAAS_METRICS_TOKEN for scrapers",
          );
        }
      }
      const text = await platform.observability.scrape.text();
      return reply.type(METRICS_CONTENT_TYPE).send(text);
    },
  );
}
