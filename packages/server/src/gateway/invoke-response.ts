import { validateHeaderName, validateHeaderValue } from 'node:http';
import { ErrorCode, FaasError, type Invocation, type InvokeOutcome } from '@faas/core';
import { type HttpResponseParts, JSON_TYPE, jsonParts } from './response-parts.ts';

/** Headers every sync invocation answers with, success or not. */
function invocationHeaders(invocation: Invocation): Record<string, string> {
  const headers: Record<string, string> = {
    'x-invocation-id': invocation.id,
    'x-function-version': String(invocation.version),
  };
  if (invocation.durationMs !== undefined) headers['x-duration-ms'] = invocation.durationMs.toFixed(3);
  return headers;
}

/** A failed attempt as the error the client gets (500 function error, 504 timeout, …). */
function outcomeError(invocation: Invocation, outcome: InvokeOutcome): FaasError | undefined {
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

/** `/invoke`: the result as JSON, or as octets when the function returned bytes. */
export function invokeResponse(invocation: Invocation, outcome: InvokeOutcome): HttpResponseParts {
  const headers = invocationHeaders(invocation);
  const error = outcomeError(invocation, outcome);
  if (error) return jsonParts(error.status, error.toJSON(), headers);
  const result = outcome.status === 'succeeded' ? outcome.result : undefined;
  if (result instanceof Uint8Array) {
    headers['content-type'] = 'application/octet-stream';
    return { status: 200, headers, body: Buffer.from(result.buffer, result.byteOffset, result.byteLength) };
  }
  return jsonParts(200, result, headers);
}

/**
 * HTTP triggers: `{ statusCode, headers, body }` becomes the response; anything else is JSON.
 * The content type defaults are the router's (a string is text, bytes are octets, JSON types get
 * a charset), so either server sends the same bytes.
 */
export function httpResponse(invocation: Invocation, outcome: InvokeOutcome): HttpResponseParts {
  const result = outcome.status === 'succeeded' ? outcome.result : undefined;
  if (!isHttpResult(result)) return invokeResponse(invocation, outcome);
  const headers = invocationHeaders(invocation);
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
      return jsonParts(err.status, err.toJSON(), invocationHeaders(invocation));
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
