import { ErrorCode, FaasError } from '@faas/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RESERVED_PREFIXES } from '../../control/route-table.ts';
import type { Platform } from '../../platform.ts';
import { httpResponse } from '../invoke-response.ts';
import { httpEvent } from '../request-event.ts';
import { sendParts } from '../response-parts.ts';
import { rawBodies } from './invoke.ts';

const ALL_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/**
 * HTTP triggers, without API keys: `/fn/{name}/*` for every function, and each function's
 * declared routes at the root, looked up in the in-memory route table.
 */
export function triggerRoutes(app: FastifyInstance, platform: Platform): void {
  rawBodies(app, platform.config.bodyLimitBytes);
  const { invocations, routes } = platform;
  const hide = { hide: true };

  const run = async (
    request: FastifyRequest,
    reply: FastifyReply,
    name: string,
    path: string,
    params: Record<string, string>,
  ) => {
    const readEvent = () => httpEvent(request, path, params);
    const { invocation, outcome } = await invocations.invokeSync(name, 'latest', readEvent, 'http');
    return sendParts(reply, httpResponse(invocation, outcome));
  };

  app.route<{ Params: { name: string; '*'?: string } }>({
    method: [...ALL_METHODS],
    url: '/fn/:name',
    schema: hide,
    handler: (request, reply) => run(request, reply, request.params.name, '/', {}),
  });
  app.route<{ Params: { name: string; '*': string } }>({
    method: [...ALL_METHODS],
    url: '/fn/:name/*',
    schema: hide,
    handler: (request, reply) => run(request, reply, request.params.name, `/${request.params['*']}`, {}),
  });

  app.route({
    method: [...ALL_METHODS],
    url: '/*',
    schema: hide,
    handler: (request, reply) => {
      const path = request.url.split('?', 1)[0] as string;
      const match = routes.table.match(request.method, path);
      if (!match) {
        // The gateway's own prefixes answer like any unknown endpoint, not like a missing trigger.
        const own = RESERVED_PREFIXES.some((p) => path.startsWith(p));
        throw new FaasError(
          own ? ErrorCode.NOT_FOUND : ErrorCode.ROUTE_NOT_FOUND,
          `No route ${request.method} ${path}`,
        );
      }
      return run(request, reply, match.functionName, path, match.params);
    },
  });
}
