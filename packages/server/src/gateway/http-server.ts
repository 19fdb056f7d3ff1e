import { readFileSync } from 'node:fs';
import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createSecureServer } from 'node:http2';
import { createServer as createTlsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { ErrorCode, FaasError } from '@faas/core';
import { jsonParts, writeResponse } from './response-parts.ts';

/** Idle keep-alive connections close after this; above common load balancers' 60 s. */
const KEEP_ALIVE_TIMEOUT_MS = 72_000;

/**
 * HTTP/2's limits per connection: streams open at once (a client opening more gets them refused,
 * not queued), and the header block, as large as HTTP/1.1's (node's 16 KiB). Node's defaults
 * bound the rest: 10 MB of memory a session may hold (a client that never reads), invalid
 * frames and refused streams before the session is closed.
 */
export const HTTP2_SETTINGS = { maxConcurrentStreams: 128, maxHeaderListSize: 16 * 1024 } as const;

/**
 * A node:http server as every gateway listener needs it. Not half-open: a client's FIN ends its
 * request, which is how a client that goes away cancels what it asked for (an exec, a stream).
 * A client that half-closes after sending its request therefore gets no answer.
 */
export function createGatewayServer(listener?: RequestListener, tls?: GatewayTls): Server {
  if (tls?.http2) return createHttp2Server(tls, listener);
  // An https.Server is an http.Server to everything that uses one here (requests, upgrades).
  const server = (tls ? createTlsServer(tls, listener) : createServer(listener)) as Server;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.on('clientError', answerClientError);
  return server;
}

/**
 * HTTP/2 and HTTP/1.1 on one TLS port (ALPN). Its requests and responses are node's compatibility
 * objects, which the listener uses as http.IncomingMessage and ServerResponse; HTTP/1.1
 * connections (WebSocket upgrades included) are node:http's own.
 */
function createHttp2Server(tls: GatewayTls, listener: RequestListener | undefined): Server {
  const server = createSecureServer({
    cert: tls.cert,
    key: tls.key,
    allowHTTP1: true,
    settings: HTTP2_SETTINGS,
  });
  if (listener) server.on('request', (req, res) => listener(withHost(req as never), res as never));
  // An idle connection closes, as HTTP/1.1's keep-alive ones do.
  server.setTimeout(KEEP_ALIVE_TIMEOUT_MS);
  server.on('clientError', answerClientError);
  // A session's protocol error is the client's: node has closed it; nothing else to do.
  server.on('sessionError', () => {});
  return server as unknown as Server;
}

/**
 * An HTTP/2 request names its host in `:authority`, not `Host`: it gets a Host header, so host
 * names (a project's routes) match whichever protocol asked.
 */
function withHost(req: IncomingMessage): IncomingMessage {
  const { headers } = req;
  const authority = headers[':authority'];
  if (headers.host === undefined && typeof authority === 'string') headers.host = authority;
  return req;
}

export interface GatewayTls {
  cert: Buffer;
  key: Buffer;
  /** Serve HTTP/2 beside HTTP/1.1 (FAAS_HTTP2). */
  http2: boolean;
}

/**
 * The certificate and key of FAAS_TLS_CERT / FAAS_TLS_KEY, read when a listener starts.
 * @throws Error naming the file that cannot be read
 */
export function gatewayTls(config: {
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  http2: boolean;
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
    http2: config.http2,
  };
}

/**
 * Bytes that are not HTTP (a body without a length, a header too large, a bad method, a chunk
 * size that is not hexadecimal) answered in the one error format, as every other refusal is:
 * node's own answer has an empty body.
 */
export function answerClientError(err: Error & { code?: string; rawPacket?: Buffer }, socket: Duplex): void {
  // llhttp's: the bytes are not HTTP (node's own errors are a timeout, the socket's). Not the
  // connection ending mid-request (INVALID_EOF_STATE): that client went away, or half-closed.
  const parseError = err.code?.startsWith('HPE_') === true && err.code !== 'HPE_INVALID_EOF_STATE';
  // The parser stays failed: the connection's later bytes fail it again while the answer below
  // goes out, and must not cut that answer off.
  if (parseError && answeringBody.has(socket)) return;
  const gateway = socket as GatewaySocket;
  const { bytesWritten, _httpMessage: inProgress } = gateway;
  if (parseError && socket.writable && inProgress && bodyOfAnswerable(gateway, inProgress)) {
    answerBadBody(err, socket, inProgress);
    return;
  }
  // As node does: answer only a connection that has had no answer yet, and close it either way
  // (bytes that are not HTTP after a request drop the connection, that request's answer with it).
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
  // An answer to HEAD has no body: a client reads one as the next answer, or as a broken one.
  // This is the connection's first request, so the bytes being parsed start with its method.
  const head = err.rawPacket?.subarray(0, 5).toString('latin1') === 'HEAD ';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${head ? '' : body}`,
    () => socket.destroy(),
  );
}

type GatewaySocket = Duplex & {
  bytesWritten: number;
  /** The response being written on the connection (node's), until it is finished. */
  _httpMessage?: ServerResponse | null;
  parser?: { incoming?: IncomingMessage | null } | null;
};

/** Connections whose request is being refused for a body that is not HTTP (answerBadBody). */
const answeringBody = new WeakSet<Duplex>();

/**
 * Whether the bytes that are not HTTP are the body of the request `res` answers, and nothing of
 * that answer has gone out: then the answer can still be the refusal (a chunk size that is not
 * hexadecimal, say). Its handlers have the request already, and wait for a body that never comes.
 */
function bodyOfAnswerable(socket: GatewaySocket, res: ServerResponse): boolean {
  const req = socket.parser?.incoming;
  return req !== undefined && req !== null && res.req === req && !req.complete && !res.headersSent;
}

/**
 * Refuses a request whose body is not HTTP with a 400 in the one error format, as its answer (so
 * the request log and metrics count it as answered), and closes the connection after it: nothing
 * after the bad bytes can be read as a request. Once closed, the request ends (`aborted`, no
 * error), as node ends one whose connection closed under it: whatever waits for its body stops.
 */
function answerBadBody(err: Error & { code?: string }, socket: Duplex, res: ServerResponse): void {
  answeringBody.add(socket);
  const req = res.req;
  res.shouldKeepAlive = false;
  const refusal = new FaasError(
    ErrorCode.BAD_REQUEST,
    `The request body is not valid HTTP (${err.code ?? 'parse error'})`,
  );
  writeResponse(res, jsonParts(refusal.status, refusal.toJSON()));
  socket.once('close', () => req.destroy());
}
