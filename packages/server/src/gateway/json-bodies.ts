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
    if (body.length > 0)
      return parseJson(request, body as string, (err, parsed) =>
        done(err ? (prototypeKeyError(body as string) ?? err) : null, parsed),
      );
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

/**
 * Fastify refuses a body with a `__proto__` key, or a `constructor` key holding a `prototype` (an
 * object merged with either could get a new prototype), as "not valid JSON". It may be valid JSON:
 * then the answer names the key, so the caller does not hunt for a syntax error.
 */
function prototypeKeyError(body: string): FaasError | undefined {
  let value: unknown;
  try {
    // Fastify's parser drops a leading BOM too.
    value = JSON.parse(body.charCodeAt(0) === 0xfeff ? body.slice(1) : body);
  } catch {
    return undefined;
  }
  const field = prototypeKeyPath(value, '');
  if (field === undefined) return undefined;
  const message =
    'is not allowed in a JSON body: a "__proto__" or "constructor.prototype" key could set the prototype of objects';
  return new FaasError(ErrorCode.BAD_REQUEST, `Invalid request: ${field} ${message}`, {
    details: [{ field, message }],
  });
}

/** Where in a parsed body its first `__proto__` or `constructor.prototype` key is. */
function prototypeKeyPath(value: unknown, path: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, child] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key;
    if (key === '__proto__') return at;
    const isObject = typeof child === 'object' && child !== null;
    if (key === 'constructor' && isObject && Object.hasOwn(child, 'prototype')) return `${at}.prototype`;
    const inner = prototypeKeyPath(child, at);
    if (inner !== undefined) return inner;
  }
  return undefined;
}
