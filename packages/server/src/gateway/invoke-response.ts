import { type ServerResponse, validateHeaderName, validateHeaderValue } from 'node:http';
import { ErrorCode, FaasError, type Invocation, type InvokeOutcome } from '@faas/core';
import type { FastifyReply } from 'fastify';

/** Headers every sync invocation answers with, success or not. */
export function invocationHeaders(reply: FastifyReply, invocation: Invocation): void {
  reply.header('x-invocation-id', invocation.id);
  reply.header('x-function-version', String(invocation.version));
  if (invocation.durationMs !== undefined) reply.header('x-duration-ms', invocation.durationMs.toFixed(3));
}

/** A failed attempt as the error the client gets (500 function error, 504 timeout, …). */
export function outcomeError(invocation: Invocation, outcome: InvokeOutcome): FaasError | undefined {
  if (outcome.status === 'succeeded') return undefined;
  const code =
    outcome.status === 'timed_out'
      ? ErrorCode.FUNCTION_TIMEOUT
      : outcome.status === 'out_of_memory'
        ? ErrorCode.OUT_OF_MEMORY
        : ErrorCode.FUNCTION_ERROR;
  return new FaasError(code, outcome.error.message, {
    details: {
      invocationId: invocation.id,
      status: outcome.status,
      type: outcome.error.type,
      ...(outcome.error.stack ? { stack: outcome.error.stack } : {}),
    },
  });
}

/** `/invoke`: the result as JSON. */
export function sendInvokeResult(reply: FastifyReply, invocation: Invocation, outcome: InvokeOutcome) {
  invocationHeaders(reply, invocation);
  const error = outcomeError(invocation, outcome);
  if (error) return reply.status(error.status).send(error.toJSON());
  const result = outcome.status === 'succeeded' ? outcome.result : undefined;
  return reply
    .status(200)
    .header('content-type', 'application/json; charset=utf-8')
    .send(JSON.stringify(result ?? null));
}

/** A response as status, headers (lowercase names) and body, for Fastify or node:http to send. */
export interface HttpResponseParts {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer | undefined;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * HTTP triggers: `{ statusCode, headers, body }` becomes the response; anything else is JSON.
 * The content type defaults are the router's (a string is text, bytes are octets, JSON types get
 * a charset), so either server sends the same bytes.
 */
export function httpResponse(invocation: Invocation, outcome: InvokeOutcome): HttpResponseParts {
  const headers: Record<string, string> = {
    'x-invocation-id': invocation.id,
    'x-function-version': String(invocation.version),
  };
  if (invocation.durationMs !== undefined) headers['x-duration-ms'] = invocation.durationMs.toFixed(3);
  const json = (status: number, value: unknown): HttpResponseParts => ({
    status,
    headers: { ...headers, 'content-type': JSON_TYPE },
    body: JSON.stringify(value ?? null),
  });
  const error = outcomeError(invocation, outcome);
  if (error) return json(error.status, error.toJSON());
  const result = outcome.status === 'succeeded' ? outcome.result : undefined;
  if (!isHttpResult(result)) return json(200, result);
  for (const [name, value] of Object.entries(result.headers ?? {})) {
    if (value === undefined || value === null) continue;
    try {
      validateHeaderName(name);
      validateHeaderValue(name, String(value));
    } catch {
      const err = new FaasError(
        ErrorCode.INVALID_FUNCTION_RESPONSE,
        `The function's response has a header that cannot be sent: ${JSON.stringify(name)}`,
        { details: { invocationId: invocation.id, header: name } },
      );
      return json(err.status, err.toJSON());
    }
    headers[name.toLowerCase()] = String(value);
  }
  const body = result.body;
  const type = headers['content-type'];
  if (body === undefined || body === null) return { status: result.statusCode, headers, body: undefined };
  if (typeof body === 'string' && result.isBase64Encoded) {
    headers['content-type'] = type ?? 'application/octet-stream';
    return { status: result.statusCode, headers, body: Buffer.from(body, 'base64') };
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  if (type === undefined)
    headers['content-type'] = typeof body === 'string' ? 'text/plain; charset=utf-8' : JSON_TYPE;
  else if (/json/i.test(type) && !/;\s*charset=/i.test(type))
    headers['content-type'] = `${type}; charset=utf-8`;
  return { status: result.statusCode, headers, body: text };
}

export function sendHttpResult(reply: FastifyReply, invocation: Invocation, outcome: InvokeOutcome) {
  const { status, headers, body } = httpResponse(invocation, outcome);
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

interface HttpResult {
  statusCode: number;
  headers?: Record<string, unknown>;
  body?: unknown;
  isBase64Encoded?: boolean;
}

function isHttpResult(value: unknown): value is HttpResult {
  if (typeof value !== 'object' || value === null) return false;
  const code = (value as HttpResult).statusCode;
  return Number.isInteger(code) && code >= 100 && code <= 599;
}
