// A gateway thread (worker_threads entry): shares the main thread's port and serves sync
// invokes and HTTP triggers of isolate functions itself (their code runs in the isolate hosts);
// everything else goes on to the main thread. See docs/configuration.md, "Gateway threads".
import type { IncomingMessage } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { HttpMetrics } from '../../observability/http-metrics.ts';
import { RequestLog } from '../../observability/request-log.ts';
import { createThreadPlatform } from '../../thread-platform.ts';
import { trustProxies } from '../client-address.ts';
import { bodyTooLarge, errorResponse } from '../errors.ts';
import { createGatewayServer, gatewayTls } from '../http-server.ts';
import { createInvokePipeline, publicRateLimit } from '../invoke/create-pipeline.ts';
import { nodeInvokeAdapter } from '../invoke/node-invoke-adapter.ts';
import { drain } from '../invoke/request-body.ts';
import { writeResponse } from '../response-parts.ts';
import { MainProxy } from './main-proxy.ts';
import type { GatewayThreadCommand, GatewayThreadData, GatewayThreadEvent } from './thread-data.ts';

/** Methods whose body every route reads: over the limit, the router answers 413. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

const data = workerData as GatewayThreadData;
const { config } = data;
trustProxies(config.trustedProxies);
const tell = (event: GatewayThreadEvent) => parentPort?.postMessage(event);
const platform = await createThreadPlatform(data);

const proxy = new MainProxy(data.mainSocket);
const metrics = new HttpMetrics();
const requests = new RequestLog(config.logLevel);
const stats = { served: 0, passed: 0 };
const invoke = nodeInvokeAdapter({
  pipeline: createInvokePipeline({
    auth: config.auth,
    publicRateLimit: publicRateLimit(config),
    triggerSandbox: config.triggerSandbox,
    ...platform,
  }),
  bodyLimitBytes: config.bodyLimitBytes,
  logger: console,
  metrics,
  log: requests,
  thread: {
    runsHere: (fn) => platform.runsHere(fn),
    // A request the adapter took, then found to be for the main thread: counted as passed on.
    pass: (req, res, body) => {
      stats.passed++;
      stats.served--;
      proxy.forward(req, res, body);
    },
    respond: platform.respond,
  },
});

const server = createGatewayServer((req, res) => {
  platform.catchUp();
  if (invoke(req, res)) {
    stats.served++;
  } else if (tooLargeToPass(req)) {
    // Answered here as the router would: passing it on, the main thread's early 413 raced the
    // rest of the body on the internal socket (EPIPE, then a 503).
    stats.served++;
    drain(req, 0, () => writeResponse(res, errorResponse(bodyTooLarge(config.bodyLimitBytes))));
  } else {
    stats.passed++;
    proxy.forward(req, res, undefined, config.bodyLimitBytes);
  }
}, gatewayTls(config));
server.on('upgrade', (req, socket, head) => proxy.upgrade(req, socket, head));
server.listen({ port: data.port, host: config.host, reusePort: true }, () => tell({ type: 'listening' }));

function tooLargeToPass(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return length !== undefined && Number(length) > config.bodyLimitBytes && BODY_METHODS.has(req.method ?? '');
}

parentPort?.on('message', (message: GatewayThreadCommand) => {
  if (message.type === 'stats') {
    tell({ type: 'stats', id: message.id, stats });
    return;
  }
  if (message.type === 'metrics') {
    void metrics.registry
      .getMetricsAsJSON()
      .then((json) => tell({ type: 'metrics', id: message.id, metrics: json }));
    return;
  }
  // In-flight requests finish; idle keep-alive connections close now, the others when idle.
  server.close(async () => {
    proxy.close();
    await platform.close();
    await requests.close();
    parentPort?.close();
  });
  // An HTTP/2 server has none of its own: its sessions close as their streams end.
  (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
});
