import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

/** A response as status, headers (lowercase names) and body, for Fastify or node:http to send. */
export interface HttpResponseParts {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer | undefined;
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
