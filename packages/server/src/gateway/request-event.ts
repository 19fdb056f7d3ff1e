import { ErrorCode, FaasError, jsonNestsDeeperThan, jsonTooDeep } from '@faas/core';
import type { FastifyRequest } from 'fastify';
import { checkInvokeBody } from './invoke-body.ts';

/** The event of an HTTP trigger (API Gateway's proxy shape, which users already know). */
export interface HttpEvent {
  method: string;
  path: string;
  params: Record<string, string>;
  query: Record<string, string | string[]>;
  headers: Record<string, string | string[] | undefined>;
  body: string | null;
  isBase64Encoded: boolean;
}

/**
 * The event of an API invoke, from the raw body: JSON is parsed, text stays a string, other
 * types are bytes. An empty body is `null`.
 */
export function invokeEvent(contentType: string | undefined, body: Buffer | undefined): unknown {
  checkInvokeBody(contentType, body);
  if (!body || body.length === 0) return null;
  const type = mediaType(contentType);
  if (type === undefined || type === 'application/json' || type.endsWith('+json')) {
    if (type === undefined && !looksLikeJson(body)) return body.toString('utf8');
    const text = body.toString('utf8');
    if (jsonNestsDeeperThan(text)) {
      if (type === undefined) return text;
      throw jsonTooDeep();
    }
    try {
      return JSON.parse(text);
    } catch (err) {
      if (type === undefined) return body.toString('utf8');
      throw new FaasError(ErrorCode.INVALID_JSON, `Body is not valid JSON: ${(err as Error).message}`);
    }
  }
  if (isTextual(type)) return body.toString('utf8');
  return new Uint8Array(body.buffer, body.byteOffset, body.length);
}

export function httpEvent(request: FastifyRequest, path: string, params: Record<string, string>): HttpEvent {
  return httpEventOf(
    {
      method: request.method,
      query: request.query as Record<string, string | string[]>,
      headers: request.headers,
      body: request.body as Buffer | undefined,
    },
    path,
    params,
  );
}

/** The request's parts, as the router or node:http has them. */
export interface HttpRequestParts {
  method: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer | undefined;
}

export function httpEventOf(
  request: HttpRequestParts,
  path: string,
  params: Record<string, string>,
): HttpEvent {
  const { body } = request;
  const hasBody = body !== undefined && body.length > 0;
  const text = hasBody && isTextual(mediaType(headerText(request.headers['content-type'])));
  return {
    method: request.method,
    path,
    params,
    query: request.query,
    headers: request.headers,
    body: hasBody ? body.toString(text ? 'utf8' : 'base64') : null,
    isBase64Encoded: hasBody && !text,
  };
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function mediaType(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  return contentType.split(';', 1)[0]?.trim().toLowerCase() || undefined;
}

function isTextual(type: string | undefined): boolean {
  if (type === undefined) return true;
  return (
    type.startsWith('text/') ||
    type === 'application/json' ||
    type.endsWith('+json') ||
    type.endsWith('+xml') ||
    type === 'application/xml' ||
    type === 'application/x-www-form-urlencoded' ||
    type === 'application/javascript'
  );
}

/** Without a content type, a body that starts like JSON is taken as JSON (curl -d's habit). */
function looksLikeJson(body: Buffer): boolean {
  const first = body.find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09);
  return first === 0x7b || first === 0x5b || first === 0x22;
}
