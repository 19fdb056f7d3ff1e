import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

/**
 * A response as status, headers (lowercase names) and body, for Fastify or node:http to send. A
 * list is a header sent once per item: only `set-cookie` is one (any other field's values are
 * joined with ", ").
 */
export interface HttpResponseParts {
  status: number;
  headers: Record<string, string | string[]>;
  body: string | Buffer | undefined;
}

/**
 * The parts with the request's span as `traceparent` (tracing on): the platform's header wins
 * over one a function set, so a response never names a span the platform did not make.
 */
export function withTraceparent(
  parts: HttpResponseParts,
  trace: { traceparent: string; span?: unknown } | undefined,
): HttpResponseParts {
  if (!trace?.span) return parts;
  return {
    ...parts,
    headers: { ...withoutHeader(parts.headers, 'traceparent'), traceparent: trace.traceparent },
  };
}

/** The headers without any spelling of `name` (a function's headers may be in any case). */
function withoutHeader(headers: HttpResponseParts['headers'], name: string): HttpResponseParts['headers'] {
  const out: HttpResponseParts['headers'] = {};
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() !== name) out[key] = value;
  return out;
}

export const JSON_TYPE = 'application/json; charset=utf-8';

export function jsonParts(
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): HttpResponseParts {
  return { status, headers: { ...headers, 'content-type': JSON_TYPE }, body: JSON.stringify(value ?? null) };
}

export function sendParts(reply: FastifyReply, { status, headers, body }: HttpResponseParts) {
  reply.status(status).headers(headers);
  return body === undefined ? reply.send() : reply.send(body);
}

/**
 * Sends parts on node:http as Fastify sends them: no length on an empty 204 or 304; a body on a
 * 1xx or 204 is dropped with its type and length (RFC 9110 §8.6).
 */
export function writeResponse(res: ServerResponse, parts: HttpResponseParts): void {
  const { status, body } = parts;
  const headers = { ...parts.headers };
  if (body === undefined) {
    if (status >= 200 && status !== 204 && status !== 304) headers['content-length'] = '0';
    res.writeHead(status, headers);
    res.end();
  } else if (status < 200 || status === 204) {
    delete headers['content-type'];
    res.writeHead(status, headers);
    res.end();
  } else {
    headers['content-length'] = String(Buffer.byteLength(body));
    res.writeHead(status, headers);
    res.end(body);
  }
}
