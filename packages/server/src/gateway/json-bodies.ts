import { ErrorCode, FaasError, jsonNestsDeeperThan, jsonTooDeep } from '@faas/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * JSON request bodies as Fastify parses them (prototype poisoning refused), except that an empty
 * body is no body at all for a route that needs none: `POST /instances/{id}/stop` from a client
 * that sends `Content-Type: application/json` on every request is fine. A route whose body has
 * required fields still answers 400 for an empty one; one with only optional fields gets `{}`.
 */
export function acceptEmptyJsonBodies(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (jsonNestsDeeperThan(body as string)) {
      done(jsonTooDeep(), undefined);
      return;
    }
    if (body.length > 0) return parseJson(request, body as string, done);
    if (needsBody(request)) {
      done(
        new FaasError(
          ErrorCode.INVALID_JSON,
          `The body is empty but its content type is application/json: ${request.method} ${request.routeOptions.url} needs a JSON object`,
        ),
        undefined,
      );
      return;
    }
    done(null, undefined);
  });
  // A route whose body is all optional fields (`POST /snapshots/{id}/fork`) gets `{}` for no body,
  // which its schema accepts, instead of "body must be object".
  app.addHook('preValidation', async (request) => {
    if (request.body === undefined && request.routeOptions.schema?.body && !needsBody(request)) {
      request.body = {};
    }
  });
}

function needsBody(request: FastifyRequest): boolean {
  const schema = request.routeOptions.schema?.body as { required?: unknown[] } | undefined;
  return Array.isArray(schema?.required) && schema.required.length > 0;
}
