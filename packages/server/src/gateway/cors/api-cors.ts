import { DEFAULT_PROJECT, ErrorCode, FaasError } from '@faas/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { setErrorHeaders } from '../errors.ts';
import { isPreflight, preflightRefused } from './cors-policy.ts';
import type { ProjectCors } from './project-cors.ts';

/** The API's invoke answers CORS in the invoke pipeline, as on every gateway thread. */
const PIPELINE_ROUTE = '/api/v1/functions/:name/invoke';
const PREFLIGHT_ROUTE = '/api/v1/*';

/**
 * CORS on /api/v1 (docs/security.md#cors). A preflight carries no credentials, so it is answered
 * for an Origin some project allows, with that project's methods and headers; the actual
 * response gets `Access-Control-Allow-Origin` only when the project of the caller's key allows
 * that Origin. Never credentials: the console's session cookie stays the console's, and a page on
 * another origin calls the API with a key or token in Authorization.
 */
export function apiCors(app: FastifyInstance, cors: ProjectCors, auth: boolean): void {
  app.options(PREFLIGHT_ROUTE, { schema: { hide: true } }, async (request, reply) => {
    const origin = cors.active ? request.headers.origin : undefined;
    if (origin === undefined || !isPreflight(request.method, request.headers)) {
      // As before CORS: no route answers OPTIONS under /api/v1.
      throw new FaasError(ErrorCode.NOT_FOUND, `No route OPTIONS ${request.url.split('?')[0]}`);
    }
    const method = request.headers['access-control-request-method'] as string;
    const asked = headerText(request.headers['access-control-request-headers']);
    let reason = 'the origin is not one any project allows';
    for (const policy of cors.allowing(origin)) {
      const answer = policy.preflight(origin, method, asked, false);
      if ('headers' in answer) return reply.status(204).headers(answer.headers).send();
      reason = answer.refused;
    }
    const refused = preflightRefused(reason);
    setErrorHeaders(refused, { vary: 'Origin' });
    throw refused;
  });

  app.addHook('onSend', (request, reply, payload, done) => {
    const origin = cors.active ? request.headers.origin : undefined;
    const route = request.routeOptions.url;
    if (
      origin === undefined ||
      !request.url.startsWith('/api/v1/') ||
      route === PIPELINE_ROUTE ||
      route === PREFLIGHT_ROUTE
    ) {
      done(null, payload);
      return;
    }
    const project = callerProject(request, auth);
    const policy = project === undefined ? undefined : cors.of(project);
    if (policy) {
      for (const [name, value] of Object.entries(policy.responseHeaders(origin, false))) {
        if (name === 'vary') appendVary(reply, value);
        else void reply.header(name, value);
      }
    }
    done(null, payload);
  });
}

/** The project the request's checked key or session acts in; undefined before one is checked. */
function callerProject(request: FastifyRequest, auth: boolean): string | undefined {
  if (!auth) return DEFAULT_PROJECT;
  return request.identity ? request.project : undefined;
}

function appendVary(
  reply: { getHeader(name: string): unknown; header(name: string, value: string): unknown },
  value: string,
) {
  const current = reply.getHeader('vary');
  reply.header('vary', typeof current === 'string' && current.length > 0 ? `${current}, ${value}` : value);
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}
