import { ErrorCode, FaasError, isFaasError } from '@faas/core';
import type { FastifyError, FastifyInstance } from 'fastify';
import { type HttpResponseParts, jsonParts, sendParts } from './response-parts.ts';

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** Fastify's own error codes that mean "your request is wrong", and what they become. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: ErrorCode.INVALID_JSON,
  FST_ERR_CTP_EMPTY_JSON_BODY: ErrorCode.INVALID_JSON,
  FST_ERR_CTP_BODY_TOO_LARGE: ErrorCode.BODY_TOO_LARGE,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ErrorCode.BAD_REQUEST,
  FST_ERR_CTP_INVALID_TYPE: ErrorCode.BAD_REQUEST,
};

/** A body over the limit, in the same words from the router and from the invoke pipeline. */
export function bodyTooLarge(limitBytes: number): FaasError {
  return new FaasError(
    ErrorCode.BODY_TOO_LARGE,
    `The request body is larger than the limit of ${limitBytes} bytes (FAAS_BODY_LIMIT_BYTES)`,
    { details: { limitBytes } },
  );
}

/** A path that does not percent-decode, in the same words from the router and the pipeline. */
export function badUrl(): FaasError {
  return new FaasError(ErrorCode.BAD_REQUEST, "The request's path is not valid percent-encoding");
}

/**
 * The one place errors become responses: FaasError keeps its code and status; schema violations
 * become 422 naming the fields; Fastify's parse errors get our codes; anything else is logged and
 * becomes a 500 without internals.
 */
export function installErrorHandling(app: FastifyInstance, bodyLimitBytes: number): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const faas =
      (error as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? bodyTooLarge(bodyLimitBytes)
        : toFaasError(error);
    if (faas.status >= 500 && !isFaasError(error)) request.log.error({ err: error }, 'unhandled error');
    return sendParts(reply, errorResponse(faas, errorHeaders(error)));
  });
  app.setNotFoundHandler((request, reply) => {
    const err = new FaasError(ErrorCode.NOT_FOUND, `No route ${request.method} ${request.url.split('?')[0]}`);
    return sendParts(reply, errorResponse(err));
  });
}

/** Headers an error's answer carries whoever answers it (the project's CORS headers). */
const errorHeaderMap = new WeakMap<object, Record<string, string>>();

/** Gives a thrown error headers for its answer (errorHeaders reads them back). */
export function setErrorHeaders(error: unknown, headers: Record<string, string>): void {
  if (typeof error === 'object' && error !== null) errorHeaderMap.set(error, headers);
}

export function errorHeaders(error: unknown): Record<string, string> | undefined {
  return typeof error === 'object' && error !== null ? errorHeaderMap.get(error) : undefined;
}

/**
 * An error's response: its status, the one error body, and Retry-After on a 429 (its own, when it
 * says) and on a 503 that says when to come back; `extra` (errorHeaders) goes on too.
 */
export function errorResponse(faas: FaasError, extra?: Record<string, string>): HttpResponseParts {
  const seconds = (faas.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  if (faas.status !== 429 && !(faas.status === 503 && typeof seconds === 'number')) {
    return jsonParts(faas.status, faas.toJSON(), extra);
  }
  return jsonParts(faas.status, faas.toJSON(), {
    ...extra,
    'retry-after': typeof seconds === 'number' ? String(seconds) : '1',
    ...(faas.code === ErrorCode.RATE_LIMITED ? rateLimitFields(faas.details) : {}),
  });
}

/** The IETF draft's RateLimit fields of a rate limit's refusal (rateLimited's details). */
function rateLimitFields(details: unknown): Record<string, string> {
  const { burst, resetSeconds } = details as { burst: number; resetSeconds: number };
  return {
    'ratelimit-limit': String(burst),
    'ratelimit-remaining': '0',
    'ratelimit-reset': String(resetSeconds),
  };
}

export function toFaasError(error: unknown): FaasError {
  if (isFaasError(error)) return error;
  const e = error as FastifyError & { validation?: AjvError[]; validationContext?: string };
  if (e.validation) {
    const problems = describeValidation(e.validation, e.validationContext ?? 'body');
    return new FaasError(
      ErrorCode.VALIDATION,
      `Invalid request: ${problems.map((p) => `${p.field} ${p.message}`).join('; ')}`,
      { details: problems },
    );
  }
  const mapped = e.code ? FASTIFY_CODES[e.code] : undefined;
  if (mapped) return new FaasError(mapped, e.message, { cause: error });
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new FaasError(ErrorCode.BAD_REQUEST, e.message, { status: e.statusCode, cause: error });
  }
  return new FaasError(ErrorCode.INTERNAL, 'Internal server error', { cause: error });
}

function describeValidation(errors: AjvError[], context: string): Array<{ field: string; message: string }> {
  const out = new Map<string, string>();
  // Each oneOf/anyOf branch complains: of `["echo", 5]` as a command, the string branch that it
  // is no string, the array branch that its item 1 is none. A branch whose type fitted (an error
  // lies below the value) says more; the types of those that did not are named together.
  const below = new Set<string>();
  for (const { instancePath: path } of errors) {
    for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) below.add(path.slice(0, i));
    if (path !== '') below.add('');
  }
  const types = new Map<string, Set<string>>();
  for (const err of errors) {
    if (err.keyword !== 'type' || below.has(err.instancePath)) continue;
    const named = types.get(err.instancePath) ?? new Set<string>();
    types.set(err.instancePath, named.add(String(err.params.type)));
  }
  for (const err of errors) {
    // oneOf/anyOf failures repeat each branch's complaint; the branch errors say more.
    if (err.keyword === 'oneOf' || err.keyword === 'anyOf') continue;
    if (err.keyword === 'type' && below.has(err.instancePath)) continue;
    let field = err.instancePath.replace(/^\//, '').replaceAll('/', '.');
    if (typeof err.params.missingProperty === 'string') field = join(field, err.params.missingProperty);
    if (typeof err.params.additionalProperty === 'string') {
      field = join(field, err.params.additionalProperty);
      out.set(field || context, 'is not a known field');
      continue;
    }
    const message = err.params.missingProperty
      ? 'is required'
      : err.keyword === 'enum' && Array.isArray(err.params.allowedValues)
        ? `must be one of ${err.params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
        : err.keyword === 'type'
          ? `must be ${[...(types.get(err.instancePath) ?? [])].join(' or ')}`
          : (err.message ?? 'is invalid');
    const key = field || context;
    if (!out.has(key)) out.set(key, message);
  }
  if (out.size === 0) out.set(context, 'is invalid');
  return [...out].map(([field, message]) => ({
    field: context === 'body' ? field : `${context}.${field}`,
    message,
  }));
}

function join(a: string, b: string): string {
  return a ? `${a}.${b}` : b;
}
