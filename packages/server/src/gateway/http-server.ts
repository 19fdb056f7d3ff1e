import { createServer, type RequestListener, type Server } from 'node:http';

/** Idle keep-alive connections close after this; above common load balancers' 60 s. */
const KEEP_ALIVE_TIMEOUT_MS = 72_000;

/**
 * A node:http server as every gateway listener needs it. Not half-open: a client's FIN ends its
 * request, which is how a client that goes away cancels what it asked for (an exec, a stream).
 * A client that half-closes after sending its request therefore gets no answer.
 */
export function createGatewayServer(listener?: RequestListener): Server {
  const server = listener ? createServer(listener) : createServer();
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  return server;
}
