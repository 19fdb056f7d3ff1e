import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseFunctionRef } from '../../control/function-catalog.ts';
import type { Platform } from '../../platform.ts';
import { invokeResponse } from '../invoke-response.ts';
import { invokeEvent } from '../request-event.ts';
import { sendParts } from '../response-parts.ts';
import { invokeQuery, nameParams } from '../schemas.ts';

/** Takes every body as raw bytes: the event's type is decided from them, not by Fastify. */
export function rawBodies(app: FastifyInstance, bodyLimit: number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));
}

export function invokeRoutes(app: FastifyInstance, platform: Platform): void {
  rawBodies(app, platform.config.bodyLimitBytes);
  const { invocations } = platform;

  app.post<{ Params: { name: string }; Querystring: { version?: string; async?: boolean } }>(
    '/functions/:name/invoke',
    {
      schema: {
        tags: ['invocations'],
        summary: 'Invoke a function (sync, or async with ?async=true or X-Invocation-Type: Event)',
        params: nameParams,
        querystring: invokeQuery,
      },
    },
    async (request, reply) => {
      const { name, ref } = parseFunctionRef(request.params.name, request.query.version);
      const readEvent = () =>
        invokeEvent(request.headers['content-type'], request.body as Buffer | undefined);
      const isAsync = request.query.async === true || request.headers['x-invocation-type'] === 'Event';
      if (isAsync) {
        const key = header(request, 'idempotency-key');
        const { invocation, duplicate } = await invocations.invokeAsync(name, ref, readEvent, 'api', key);
        return reply
          .status(202)
          .header('location', `/api/v1/invocations/${invocation.id}`)
          .header('x-invocation-id', invocation.id)
          .send({
            invocationId: invocation.id,
            status: invocation.status,
            ...(duplicate ? { duplicate } : {}),
          });
      }
      const { invocation, outcome } = await invocations.invokeSync(name, ref, readEvent, 'api');
      return sendParts(reply, invokeResponse(invocation, outcome));
    },
  );
}

function header(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s && s.length > 0 ? s.slice(0, 256) : undefined;
}
