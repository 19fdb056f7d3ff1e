import { ErrorCode, FaasError } from '@faas/core';
import type { FastifyInstance } from 'fastify';
import { METRICS_CONTENT_TYPE, metricsTokenMatches } from '../../observability/metrics-scrape.ts';
import type { Platform } from '../../platform.ts';

/**
 * `GET /metrics`: this node's metrics in Prometheus text format, every gateway thread's merged.
 * Open like /health unless FAAS_METRICS_TOKEN is set; API keys are not asked for (a scraper
 * holds no user's key).
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
      if (token !== undefined && !metricsTokenMatches(request.headers.authorization, token)) {
        throw new FaasError(ErrorCode.UNAUTHORIZED, 'GET /metrics needs the bearer token FAAS_METRICS_TOKEN');
      }
      const text = await platform.observability.scrape.text();
      return reply.type(METRICS_CONTENT_TYPE).send(text);
    },
  );
}
