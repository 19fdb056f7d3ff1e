import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { clientAddress } from '../client-address.ts';
import { toFaasError } from '../errors.ts';
import { type HttpResponseParts, sendParts, withTraceparent } from '../response-parts.ts';
import { invokeQuery, nameParams } from '../schemas.ts';
import type { InvokePipeline } from './invoke-pipeline.ts';
import { type RequestHead, routeNotFound } from './invoke-target.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The key the invoke pipeline accepted (its own hooks authenticate invokes), for the request log. */
    invokeKeyId?: string;
    /** The invoke's trace id, for the request log line. */
    invokeTraceId?: string;
  }
}

const TRIGGER_ROUTE_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
/** The pipeline checks these requests itself; the schemas are there for /docs. */
const documentedOnly = () => () => true;

/** Takes every body as raw bytes: the event's type is decided from them, not by Fastify. */
export function rawBodies(app: FastifyInstance, bodyLimit: number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));
}

/**
 * The invoke pipeline on Fastify's router: the API's invoke, `/fn/{name}/*` and the declared
 * routes at the root. Requests reach these when the node:http adapter left them (or through
 * `app.inject`); both end in the same pipeline with the same answers.
 */
export function fastifyInvokeRoutes(app: FastifyInstance, pipeline: InvokePipeline, bodyLimit: number): void {
  rawBodies(app, bodyLimit);
  app.decorateRequest('invokeKeyId', undefined);
  app.decorateRequest('invokeTraceId', undefined);
  const handle = async (request: FastifyRequest, reply: FastifyReply) => {
    const head: RequestHead = {
      method: request.method,
      url: request.url,
      headers: request.headers,
      rawHeaders: request.raw.rawHeaders,
      remoteAddress: clientAddress(request.raw),
    };
    const target = pipeline.target(head);
    if (!target) throw routeNotFound(head);
    const trace = pipeline.startTrace(target, head);
    if (trace) request.invokeTraceId = trace.traceId;
    let parts: HttpResponseParts;
    try {
      parts = await pipeline.run(target, head, request.body as Buffer | undefined, trace);
    } catch (err) {
      // The error handler answers it; the header goes on first.
      if (trace?.span) void reply.header('traceparent', trace.traceparent);
      pipeline.endTrace(trace, toFaasError(err).status, err);
      throw err;
    } finally {
      if (head.keyId !== undefined) request.invokeKeyId = head.keyId;
    }
    pipeline.endTrace(trace, parts.status);
    return sendParts(reply, withTraceparent(parts, trace));
  };

  app.post(
    '/api/v1/functions/:name/invoke',
    {
      schema: {
        tags: ['invocations'],
        summary: 'Invoke a function (sync, or async with ?async=true or X-Invocation-Type: Event)',
        params: nameParams,
        querystring: invokeQuery,
      },
      validatorCompiler: documentedOnly,
    },
    handle,
  );
  const hide = { hide: true };
  for (const url of ['/fn/:name', '/fn/:name/*', '/*']) {
    app.route({ method: TRIGGER_ROUTE_METHODS, url, schema: hide, handler: handle });
  }
}
