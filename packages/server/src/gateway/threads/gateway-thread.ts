// A gateway thread (worker_threads entry): shares the main thread's port and serves sync
// invokes and HTTP triggers of isolate functions itself (their code runs in the isolate hosts);
// everything else goes on to the main thread. See docs/configuration.md, "Gateway threads".
import { createServer, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { Invocation, StoredLogLine } from '@faas/core';
import { ApiKeyService } from '../../control/api-key-service.ts';
import type { PlatformChange } from '../../control/change-feed.ts';
import { ConcurrencyLimiter } from '../../control/concurrency-limiter.ts';
import { FunctionCatalog } from '../../control/function-catalog.ts';
import type { RecordMessage } from '../../control/invocation-recorder.ts';
import { InvocationService } from '../../control/invocation-service.ts';
import { RouteTable } from '../../control/route-table.ts';
import { SlotTable } from '../../control/slot-table.ts';
import { RuntimeRegistry } from '../../data/runtime-registry.ts';
import { remoteIsolateRuntime } from '../../runtimes/isolate-hosts/host-settings.ts';
import { SqliteStore } from '../../store/sqlite/sqlite-store.ts';
import { bodyTooLarge, errorResponse } from '../errors.ts';
import { createInvokePipeline } from '../invoke/create-pipeline.ts';
import { nodeInvokeAdapter } from '../invoke/node-invoke-adapter.ts';
import { writeResponse } from '../response-parts.ts';
import { MainProxy } from './main-proxy.ts';
import type { GatewayThreadCommand, GatewayThreadData, GatewayThreadEvent } from './thread-data.ts';

const data = workerData as GatewayThreadData;
/** Methods whose body every route reads: over the limit, the router answers 413. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);
const { config } = data;
const tell = (event: GatewayThreadEvent) => parentPort?.postMessage(event);
const logger = console;

// Reads only: the main thread migrated the file and does every write.
const store = new SqliteStore({ path: join(config.dataDir, 'faas.db') });
// The isolate hosts are the main thread's: this thread connects to them as it does.
const runtime = remoteIsolateRuntime(config, { endpoints: data.isolateEndpoints }, logger);
const catalog = new FunctionCatalog(store);
const keys = new ApiKeyService(store);
const routes = new RouteTable();
routes.replace(await store.listRoutes());

// Records leave before responses: the invocations finished in one turn of the event loop go to
// the main thread in one message, and only then are their responses written, so the main
// thread finds every invocation a client was told about (InvocationRecorder.addSource).
let records: RecordMessage[] = [];
let writes: Array<() => void> = [];
let posting = false;
function schedulePost(): void {
  if (posting) return;
  posting = true;
  setImmediate(() => {
    posting = false;
    if (records.length > 0) data.records.postMessage(records);
    const due = writes;
    records = [];
    writes = [];
    for (const write of due) write();
  });
}
function respond(write: () => void): void {
  writes.push(write);
  schedulePost();
}

const invocations = new InvocationService({
  store,
  catalog,
  runtimes: new RuntimeRegistry([runtime]),
  limiter: new ConcurrencyLimiter(config.concurrencyWaitMs, new SlotTable(data.slots, data.slotsHeld)),
  recorder: {
    record: (invocation: Invocation, logs: Omit<StoredLogLine, 'seq'>[]) => {
      records.push({ invocation, logs });
      schedulePost();
    },
    pending: () => undefined,
    pendingLogs: () => [],
  },
});

function apply(change: PlatformChange): void {
  switch (change.kind) {
    case 'latest':
      // Retiring the old version's isolates is the main thread's: the hosts are shared.
      catalog.setLatest(change.version);
      break;
    case 'invalidate':
      catalog.invalidate(change.name);
      break;
    case 'forget':
      catalog.forget(change.name);
      break;
    case 'routes':
      routes.replace(change.routes);
      break;
    case 'key-revoked':
      keys.forget(change.id);
      break;
  }
}

/** Takes in every change the main thread published before the request at hand arrived. */
function catchUp(): void {
  for (let m = receiveMessageOnPort(data.changes); m; m = receiveMessageOnPort(data.changes)) {
    apply(m.message as PlatformChange);
  }
}
data.changes.on('message', apply);

const proxy = new MainProxy(data.mainSocket);
const stats = { served: 0, passed: 0 };
const invoke = nodeInvokeAdapter({
  pipeline: createInvokePipeline({ auth: config.auth, keys, invocations, routes }),
  bodyLimitBytes: config.bodyLimitBytes,
  logger,
  thread: {
    runsHere: (fn) => runtime.supports(fn.runtime),
    // A request the adapter took, then found to be for the main thread: counted as passed on.
    pass: (req, res, body) => {
      stats.passed++;
      stats.served--;
      proxy.forward(req, res, body);
    },
    respond,
  },
});

const server = createServer((req, res) => {
  catchUp();
  if (invoke(req, res)) {
    stats.served++;
  } else if (tooLargeToPass(req)) {
    // Answered here as the router would: passing it on, the main thread's early 413 raced the
    // rest of the body on the internal socket (EPIPE, then a 503).
    stats.served++;
    writeResponse(res, errorResponse(bodyTooLarge(config.bodyLimitBytes)));
  } else {
    stats.passed++;
    proxy.forward(req, res, undefined, config.bodyLimitBytes);
  }
});

function tooLargeToPass(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return length !== undefined && Number(length) > config.bodyLimitBytes && BODY_METHODS.has(req.method ?? '');
}
server.keepAliveTimeout = 72_000;
server.on('upgrade', (req, socket, head) => proxy.upgrade(req, socket, head));
server.listen({ port: data.port, host: config.host, reusePort: true }, () => tell({ type: 'listening' }));

parentPort?.on('message', (message: GatewayThreadCommand) => {
  if (message.type === 'stats') {
    tell({ type: 'stats', id: message.id, stats });
    return;
  }
  // In-flight requests finish; idle keep-alive connections close now, the others when idle.
  server.close(async () => {
    proxy.close();
    await runtime.close();
    await store.close();
    data.changes.close();
    data.records.close();
    parentPort?.close();
  });
  server.closeIdleConnections();
});
