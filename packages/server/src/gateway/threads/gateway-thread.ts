// A gateway thread (worker_threads entry): shares the main thread's port and serves sync
// invokes and HTTP triggers of isolate functions itself, with its own isolates; everything
// else goes on to the main thread. See docs/configuration.md, "Gateway threads".
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { Invocation, StoredLogLine } from '@faas/core';
import { LocalBlobStore } from '../../blobs/local/local-blob-store.ts';
import { ApiKeyService } from '../../control/api-key-service.ts';
import { AuthThrottle } from '../../control/auth-throttle.ts';
import type { PlatformChange } from '../../control/change-feed.ts';
import { ConcurrencyLimiter } from '../../control/concurrency-limiter.ts';
import { FunctionCatalog } from '../../control/function-catalog.ts';
import type { RecordMessage } from '../../control/invocation-recorder.ts';
import { InvocationService } from '../../control/invocation-service.ts';
import { RecordBacklog } from '../../control/record-backlog.ts';
import { RouteTable } from '../../control/route-table.ts';
import { SlotTable } from '../../control/slot-table.ts';
import { RuntimeRegistry } from '../../data/runtime-registry.ts';
import { createIsolateRuntime } from '../../runtimes/isolate/isolate-runtime.ts';
import { SqliteStore } from '../../store/sqlite/sqlite-store.ts';
import { createFastInvoke } from '../fast-invoke.ts';
import { MainProxy } from './main-proxy.ts';
import type { GatewayThreadCommand, GatewayThreadData, GatewayThreadEvent } from './thread-data.ts';

const data = workerData as GatewayThreadData;
const { config } = data;
const tell = (event: GatewayThreadEvent) => parentPort?.postMessage(event);
const logger = console;

// Reads only: the main thread migrated the file and does every write.
const store = new SqliteStore({ path: join(config.dataDir, 'faas.db') });
const blobs = new LocalBlobStore({ root: join(config.dataDir, 'blobs') });
const runtime = createIsolateRuntime({ blobs, idleTimeoutMs: config.idleTimeoutMs, logger });
const catalog = new FunctionCatalog(store);
const keys = new ApiKeyService(
  store,
  undefined,
  new AuthThrottle({ limit: config.authFailureLimit, windowMs: config.authFailureWindowMs }),
);
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

const backlog = new RecordBacklog(data.recordBacklog);
const invocations = new InvocationService({
  store,
  catalog,
  runtimes: new RuntimeRegistry([runtime]),
  limiter: new ConcurrencyLimiter(config.concurrencyWaitMs, new SlotTable(data.slots)),
  recorder: {
    admit: () => backlog.admit(),
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
    case 'latest': {
      const previous = catalog.cachedLatest(change.version.name);
      catalog.setLatest(change.version);
      // As the main thread does on a new version: the old one's isolates drain.
      if (previous && previous.version !== change.version.version)
        void runtime.retire(previous.name, previous.version);
      break;
    }
    case 'invalidate':
      catalog.invalidate(change.name);
      break;
    case 'forget':
      catalog.forget(change.name);
      void runtime.retire(change.name);
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
const fastInvoke = createFastInvoke({
  auth: config.auth,
  keys,
  invocations,
  routes,
  bodyLimitBytes: config.bodyLimitBytes,
  runsHere: (kind) => runtime.supports(kind),
  logger,
  respond,
});
const stats = { served: 0, passed: 0 };
// A request the fast path took, then found to be a container function's: counted as passed on.
const pass = (req: IncomingMessage, res: ServerResponse, body?: Buffer) => {
  stats.passed++;
  stats.served--;
  proxy.forward(req, res, body);
};

const server = createServer((req, res) => {
  catchUp();
  if (fastInvoke(req, res, pass)) {
    stats.served++;
  } else {
    stats.passed++;
    proxy.forward(req, res);
  }
});
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
