import { readFileSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { ErrorCode, FaasError } from '@faas/core';

/** Idle keep-alive connections close after this; above common load balancers' 60 s. */
const KEEP_ALIVE_TIMEOUT_MS = 72_000;

/**
 * A node:http server as every gateway listener needs it. Not half-open: a client's FIN ends its
 * request, which is how a client that goes away cancels what it asked for (an exec, a stream).
 * A client that half-closes after sending its request therefore gets no answer.
 */
export function createGatewayServer(listener?: RequestListener, tls?: GatewayTls): Server {
  // An https.Server is an http.Server to everything that uses one here (requests, upgrades).
  const server = (tls ? createTlsServer(tls, listener) : createServer(listener)) as Server;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.on('clientError', answerClientError);
  return server;
}

export interface GatewayTls {
  cert: Buffer;
  key: Buffer;
}

/**
 * The certificate and key of FAAS_TLS_CERT / FAAS_TLS_KEY, read when a listener starts.
 * @throws Error naming the file that cannot be read
 */
export function gatewayTls(config: {
  tlsCert: string | undefined;
  tlsKey: string | undefined;
}): GatewayTls | undefined {
  if (!config.tlsCert || !config.tlsKey) return undefined;
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`Cannot read the TLS ${what} ${path}: ${(err as Error).message}`);
    }
  };
  return {
    cert: read(config.tlsCert, 'certificate (FAAS_TLS_CERT)'),
    key: read(config.tlsKey, 'key (FAAS_TLS_KEY)'),
  };
}

/**
 * Bytes that are not HTTP (a body without a length, a header too large, a bad method) answered
 * in the one error format, as every other refusal is: node's own answer has an empty body.
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  // As node does: answer only a connection that has had no answer yet, and close it either way
  // (bytes that are not HTTP after a request drop the connection, that request's answer with it).
  const { bytesWritten, _httpMessage: inProgress } = socket as Duplex & {
    bytesWritten: number;
    _httpMessage?: unknown;
  };
  if (err.code === 'ECONNRESET' || !socket.writable || bytesWritten > 0 || inProgress) {
    socket.destroy();
    return;
  }
  const [status, reason] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout']
        : [400, 'Bad Request'];
  const message =
    status === 431
      ? 'The request headers are too large'
      : status === 408
        ? 'The request did not arrive in time'
        : `The request is not valid HTTP (${err.code ?? 'parse error'})`;
  const body = JSON.stringify(new FaasError(ErrorCode.BAD_REQUEST, message, { status }).toJSON());
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}
