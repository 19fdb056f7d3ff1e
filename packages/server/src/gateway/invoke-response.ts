import { validateHeaderName, validateHeaderValue } from 'node:http';
import { ErrorCode, FaasError, type Invocation, type InvokeOutcome, isFaasError } from '@faas/core';
import { type HttpResponseParts, JSON_TYPE, jsonParts } from './response-parts.ts';
import { SESSION_COOKIE } from './session/session-auth.ts';

/**
 * The policy every HTTP trigger answers with (FAAS_TRIGGER_SANDBOX): the console is served from
 * the same origin, so a function's page would otherwise run as the console, with a signed-in
 * admin's session. Without allow-same-origin the page's origin is opaque: the browser sends it no
 * same-site cookies and its requests to /api/v1 are cross-origin.
 */
export const TRIGGER_SANDBOX = 'sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads';

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

/** `/invoke`: the result as JSON, or as bytes when the function returned bytes. */
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
 * HTTP triggers: `{ statusCode, headers, body }` (a whole statusCode of 100 to 599) becomes the
 * response; anything else is JSON.
 * With `sandbox`, every answer carries TRIGGER_SANDBOX beside the function's own policy (a
 * header may hold several policies, comma-separated, and browsers enforce each), never instead
 * of it.
 */
export function httpResponse(
  invocation: Invocation,
  outcome: InvokeOutcome,
  sandbox: boolean,
): HttpResponseParts {
  const parts = functionResponse(invocation, outcome);
  if (!sandbox) return parts;
  const own = parts.headers['content-security-policy'];
  parts.headers['content-security-policy'] = own ? `${TRIGGER_SANDBOX}, ${own}` : TRIGGER_SANDBOX;
  return parts;
}

/**
 * The function's `{ statusCode, headers, body }` as the response, or a 502 naming what of it HTTP
 * cannot carry. The content type defaults are the router's (a string is text, bytes are octets,
 * JSON types get a charset), so either server sends the same bytes.
 */
function functionResponse(invocation: Invocation, outcome: InvokeOutcome): HttpResponseParts {
  const result = outcome.status === 'succeeded' ? outcome.result : undefined;
  if (!isHttpResult(result)) return invokeResponse(invocation, outcome);
  try {
    const parts = httpParts(invocation, result);
    // The platform's own headers are the platform's: the request log and clients trust them.
    Object.assign(parts.headers, invocationHeaders(invocation));
    return parts;
  } catch (err) {
    if (!isFaasError(err)) throw err;
    return jsonParts(err.status, err.toJSON(), invocationHeaders(invocation));
  }
}

/** @throws FaasError INVALID_FUNCTION_RESPONSE naming the field or header that cannot be sent */
function httpParts(invocation: Invocation, result: HttpResult): HttpResponseParts {
  const status = result.statusCode;
  // A 1xx is an interim answer: the client goes on waiting for a final one that never comes.
  if (status < 200) {
    throw unsendable(invocation, `has statusCode ${status}: an HTTP trigger answers 200 to 599`, {
      field: 'statusCode',
    });
  }
  const { headers, cookies } = functionHeaders(invocation, result.headers);
  const parts: HttpResponseParts = { status, headers, body: undefined };
  if (cookies.length > 0) parts.headers['set-cookie'] = cookies;
  const body = result.body;
  // No content on a 204 or 304 (RFC 9110 §15.3.5, §15.4.5): a client reads a body there as the
  // start of the next answer on its connection.
  if (body === undefined || body === null || status === 204 || status === 304) return parts;
  const type = headers['content-type'];
  if (result.isBase64Encoded) {
    // Buffer.from skips what is not base64: `!!!` would go out as an empty 200.
    if (typeof body !== 'string' || !BASE64.test(body)) {
      throw unsendable(invocation, 'has isBase64Encoded true but a body that is not base64 text', {
        field: 'body',
      });
    }
    parts.headers['content-type'] = type ?? 'application/octet-stream';
    parts.body = Buffer.from(body, 'base64');
    return parts;
  }
  parts.body = typeof body === 'string' ? body : JSON.stringify(body);
  if (type === undefined)
    parts.headers['content-type'] = typeof body === 'string' ? 'text/plain; charset=utf-8' : JSON_TYPE;
  else if (/json/i.test(type) && !/;\s*charset=/i.test(type))
    parts.headers['content-type'] = `${type}; charset=utf-8`;
  return parts;
}

/**
 * Base64 as Buffer.from reads it: either alphabet, padding optional, whitespace (line breaks)
 * ignored. Linear: after the run of characters only `=` or the end may follow.
 */
const BASE64 = /^[A-Za-z0-9+/\-_\s]*(?:=\s*){0,2}$/;

/**
 * The function's headers as they are sent, lowercase. A value is a string, or a number or
 * boolean as its text; null leaves the header out. A list is the field sent once per item: for
 * Set-Cookie each item its own header (`cookies`: a cookie's Expires has a comma, so browsers
 * never split a joined one), for any other the items joined with ", ", which is what a field
 * sent several times means (RFC 9110 §5.3).
 * @throws FaasError INVALID_FUNCTION_RESPONSE for headers that are not an object of such values
 */
function functionHeaders(
  invocation: Invocation,
  raw: unknown,
): { headers: Record<string, string>; cookies: string[] } {
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  if (raw === undefined || raw === null) return { headers, cookies };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw unsendable(invocation, 'has headers that are not an object of names and values', {
      field: 'headers',
    });
  }
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined || value === null) continue;
    const values = (Array.isArray(value) ? value : [value]).map(headerText);
    const cannot = `has a header that cannot be sent: ${JSON.stringify(name)}`;
    if (!values.every((text) => text !== undefined)) {
      throw unsendable(invocation, `${cannot} (a value is a string, number or boolean, or a list of them)`, {
        header: name,
      });
    }
    try {
      validateHeaderName(name);
      for (const text of values) validateHeaderValue(name, text);
    } catch {
      throw unsendable(invocation, cannot, { header: name });
    }
    const lower = name.toLowerCase();
    if (FRAMING_HEADERS.has(lower)) continue;
    if (lower === 'set-cookie') cookies.push(...values.filter(functionMaySet));
    else if (values.length > 0) headers[lower] = values.join(', ');
  }
  return { headers, cookies };
}

function headerText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
}

function unsendable(invocation: Invocation, what: string, details: Record<string, string>): FaasError {
  return new FaasError(ErrorCode.INVALID_FUNCTION_RESPONSE, `The function's response ${what}`, {
    details: { invocationId: invocation.id, ...details },
  });
}

/**
 * How the server frames the answer, never the function: a `transfer-encoding: chunked` beside the
 * length the server sets would let a proxy in front read the body as the next response (on its
 * connection shared with other clients), and HTTP/2 refuses connection headers outright.
 */
const FRAMING_HEADERS = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'upgrade',
  'te',
  'trailer',
]);

/**
 * Whether a function's Set-Cookie may reach the browser: not when it is the console's session
 * cookie (a function on the console's origin would fix a signed-in admin's session to one it
 * chose), in any spelling a browser might send back as one (a nameless cookie is sent as its
 * value alone, so `=faas_session=x` arrives as `faas_session=x`), and not with a Domain (a
 * function's cookies stay on the host that served them).
 */
function functionMaySet(cookie: string): boolean {
  const [pair = '', ...attributes] = cookie.split(';');
  const eq = pair.indexOf('=');
  let name = eq === -1 ? '' : pair.slice(0, eq).trim();
  if (name === '') name = (eq === -1 ? pair : pair.slice(eq + 1)).split('=', 1)[0]?.trim() ?? '';
  if (name.toLowerCase() === SESSION_COOKIE) return false;
  return !attributes.some((attribute) => attribute.split('=', 1)[0]?.trim().toLowerCase() === 'domain');
}

interface HttpResult {
  statusCode: number;
  headers?: unknown;
  body?: unknown;
  isBase64Encoded?: boolean;
}

function isHttpResult(value: unknown): value is HttpResult {
  if (typeof value !== 'object' || value === null) return false;
  const code = (value as HttpResult).statusCode;
  return Number.isInteger(code) && code >= 100 && code <= 599;
}
