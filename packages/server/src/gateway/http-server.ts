import { createServer, type RequestListener, type Server } from 'node:http';

/** Idle keep-alive connections close after this; above common load balancers' 60 s. */
const KEEP_ALIVE_TIMEOUT_MS = 72_000;

/**
 * A node:http server as every gateway listener needs it. A client may send its request and then
 * half-close its side (`shutdown(SHUT_WR)`, as `socket.end(body)` does); by default node then
 * ends the connection at once, and an answer still being made (any async one: an invoke, a 413
 * after the body was drained) is lost: the client sees the connection close with no response.
 * Half-open, the server ends the connection after its answer instead.
 */
export function createGatewayServer(listener?: RequestListener): Server {
  const server = listener ? createServer(listener) : createServer();
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  // Not in @types/node; node's http.Server reads it when a client half-closes (_http_server.js).
  (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  return server;
}
