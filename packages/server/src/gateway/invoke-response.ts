import { validateHeaderName, validateHeaderValue } from 'node:http';
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

/** HTTP triggers: `{ statusCode, headers, body }` becomes the response; anything else is JSON. */
export function sendHttpResult(reply: FastifyReply, invocation: Invocation, outcome: InvokeOutcome) {
  invocationHeaders(reply, invocation);
  const error = outcomeError(invocation, outcome);
  if (error) return reply.status(error.status).send(error.toJSON());
  const result = outcome.status === 'succeeded' ? outcome.result : undefined;
  if (!isHttpResult(result)) {
    return reply
      .status(200)
      .header('content-type', 'application/json; charset=utf-8')
      .send(JSON.stringify(result ?? null));
  }
  const headers: Array<[string, string]> = [];
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
      return reply.status(err.status).send(err.toJSON());
    }
    headers.push([name, String(value)]);
  }
  reply.status(result.statusCode);
  for (const [name, value] of headers) reply.header(name, value);
  const body = result.body;
  if (body === undefined || body === null) return reply.send();
  if (typeof body === 'string') {
    if (result.isBase64Encoded) return reply.send(Buffer.from(body, 'base64'));
    if (!reply.hasHeader('content-type')) reply.header('content-type', 'text/plain; charset=utf-8');
    return reply.send(body);
  }
  if (!reply.hasHeader('content-type')) reply.header('content-type', 'application/json; charset=utf-8');
  return reply.send(JSON.stringify(body));
}
