import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BlobStore, Config, MetadataStore, Queue, Runtime } from '@faas/core';
import { createLocalBlobStore } from './blobs/local/local-blob-store.ts';
import { ApiKeyService } from './control/api-key-service.ts';
import { ChangeFeed } from './control/change-feed.ts';
import { ConcurrencyLimiter } from './control/concurrency-limiter.ts';
import { ExecCache } from './control/exec-cache.ts';
import { ExecuteService } from './control/execute-service.ts';
import { FunctionCatalog } from './control/function-catalog.ts';
import { FunctionService } from './control/function-service.ts';
import { InstanceService } from './control/instance-service.ts';
import { InvocationRecorder } from './control/invocation-recorder.ts';
import { InvocationService } from './control/invocation-service.ts';
import { RouteSync } from './control/route-sync.ts';
import { SlotTable } from './control/slot-table.ts';
import { SnapshotService } from './control/snapshot-service.ts';
import { AsyncWorker, reconcileOrphans } from './data/async-worker.ts';
import { RuntimeRegistry } from './data/runtime-registry.ts';
import { openSqliteQueue } from './queue/sqlite/sqlite-queue.ts';
import { createContainerRuntime } from './runtimes/container/container-runtime.ts';
import { createIsolateRuntime } from './runtimes/isolate/isolate-runtime.ts';
import { openSqliteStore } from './store/sqlite/sqlite-store.ts';

/** Everything a running server holds, wired together; the gateway only talks to this. */
export interface Platform {
  config: Readonly<Config>;
  store: MetadataStore;
  queue: Queue;
  blobs: BlobStore;
  runtimes: RuntimeRegistry;
  functions: FunctionService;
  invocations: InvocationService;
  /** The execute API: commands in sandboxes (ephemeral, cached). */
  execute: ExecuteService;
  /** Long-lived sandboxes: exec, files, event streams. */
  instances: InstanceService;
  /** Checkpoints of instances (gVisor) and file snapshots (runc); restores and forks. */
  snapshots: SnapshotService;
  keys: ApiKeyService;
  recorder: InvocationRecorder;
  routes: RouteSync;
  worker: AsyncWorker;
  /** Changes other gateway threads must take in (catalog, revoked keys). */
  changes: ChangeFeed;
  /** Running invocations per function, shared with the other gateway threads. */
  slots: SlotTable;
  /** Set on a first start without FAAS_ADMIN_KEY: the generated admin key, to print once. */
  generatedAdminKey: string | undefined;
  close(): Promise<void>;
}

type Logger = Pick<Console, 'error' | 'warn' | 'info'>;

/** Opens the embedded default (SQLite store and queue, local blobs, isolate + container runtimes). */
export async function createPlatform(config: Readonly<Config>, logger: Logger = console): Promise<Platform> {
  mkdirSync(config.dataDir, { recursive: true });
  const dbPath = join(config.dataDir, 'faas.db');
  const store = await openSqliteStore({ path: dbPath });
  const queue = await openSqliteQueue({
    path: dbPath,
    retry: { baseDelayMs: config.retryBaseDelayMs, maxDelayMs: config.retryMaxDelayMs },
  });
  const blobs = await createLocalBlobStore({ root: join(config.dataDir, 'blobs') });

  const runtimeList: Runtime[] = [createIsolateRuntime({ blobs, idleTimeoutMs: config.idleTimeoutMs })];
  runtimeList.push(
    createContainerRuntime({
      blobs,
      dataDir: join(config.dataDir, 'containers'),
      idleTimeoutMs: config.idleTimeoutMs,
      dockerHost: config.dockerHost,
      restoreStandbys: config.restoreStandbys,
      dependencyCacheMb: config.dependencyCacheMb,
      logger,
    }),
  );
  const runtimes = new RuntimeRegistry(runtimeList);
  await runtimes.refreshHealth();

  const changes = new ChangeFeed();
  const slots = new SlotTable();
  const catalog = new FunctionCatalog(store, changes.publish);
  const routes = new RouteSync(store, catalog, (list) => changes.publish({ kind: 'routes', routes: list }));
  await routes.refresh();
  routes.start(config.routeSyncMs, (err) => logger.error('route sync failed', err));

  const recorder = new InvocationRecorder(store, {
    onError: (err) => logger.error('recording invocations failed', err),
  });
  const limiter = new ConcurrencyLimiter(config.concurrencyWaitMs, slots);
  let worker: AsyncWorker | undefined;
  const invocations = new InvocationService({
    store,
    queue,
    catalog,
    runtimes,
    limiter,
    recorder,
    onEnqueued: () => worker?.wake(),
  });
  worker = new AsyncWorker({
    store,
    queue,
    catalog,
    invocations,
    concurrency: config.queueConcurrency,
    pollMs: config.queuePollMs,
    logger,
  });
  const functions = new FunctionService({
    store,
    blobs,
    catalog,
    routes,
    runtimes,
    maxCodeBytes: Math.max(config.bodyLimitBytes * 4, 50 * 1024 * 1024),
    logger,
  });
  const instances = new InstanceService(runtimes);
  const snapshots = new SnapshotService({ store, blobs, instances });
  const execute = new ExecuteService({ runtimes, cache: new ExecCache({ store }), instances, snapshots });
  const keys = new ApiKeyService(store, (id) => changes.publish({ kind: 'key-revoked', id }));
  const generatedAdminKey = await keys.bootstrap(config.adminKey);

  const orphans = await reconcileOrphans(store, queue);
  if (orphans > 0) logger.warn(`marked ${orphans} async invocation(s) without a queued job as failed`);
  worker.start();

  const asyncWorker = worker;
  return {
    config,
    store,
    queue,
    blobs,
    runtimes,
    functions,
    invocations,
    execute,
    instances,
    snapshots,
    keys,
    recorder,
    routes,
    worker: asyncWorker,
    changes,
    slots,
    generatedAdminKey,
    async close() {
      routes.stop();
      await asyncWorker.stop();
      await recorder.close();
      await runtimes.close();
      await queue.close();
      await store.close();
      await blobs.close();
    },
  };
}
