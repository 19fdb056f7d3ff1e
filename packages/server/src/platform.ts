import { join } from 'node:path';
import type {
  BlobStore,
  Config,
  FunctionRuntime,
  MetadataStore,
  Queue,
  RateBuckets,
  Runtime,
  SessionStore,
} from '@faas/core';
import { blobBackend, localBlobRoot, openBlobStore } from './blobs/open-blob-store.ts';
import { ClusterMembership } from './cluster/cluster-membership.ts';
import { RequestForwarder } from './cluster/forward-request.ts';
import { InstancePlacements } from './cluster/instance-placements.ts';
import { type InstanceRoutingHook, instanceRouting as routeInstances } from './cluster/instance-routing.ts';
import { nodeIdentity } from './cluster/node-identity.ts';
import { CLUSTER_REDIS_TIMEOUT_MS, RedisNodeRegistry } from './cluster/redis-node-registry.ts';
import { RemoteContainerRuntime } from './cluster/remote-container-runtime.ts';
import { RemoteExecute } from './cluster/remote-execute.ts';
import { VersionCache } from './cluster/version-cache.ts';
import { WorkerDirectory } from './cluster/worker-directory.ts';
import { ApiKeyService } from './control/api-key-service.ts';
import { AuthThrottle } from './control/auth-throttle.ts';
import { BlobCollector } from './control/blob-collector.ts';
import { ChangeFeed } from './control/change-feed.ts';
import { ConcurrencyLimiter } from './control/concurrency-limiter.ts';
import { ExecCache } from './control/exec-cache.ts';
import { type ExecuteRequest, type ExecuteResult, ExecuteService } from './control/execute-service.ts';
import { FunctionCatalog } from './control/function-catalog.ts';
import { FunctionService } from './control/function-service.ts';
import { instanceLimitsFrom } from './control/instance-limits.ts';
import { InstanceService } from './control/instance-service.ts';
import { InvocationRecorder } from './control/invocation-recorder.ts';
import { InvocationService } from './control/invocation-service.ts';
import { JwtTokens } from './control/jwt-tokens.ts';
import { ProjectLimits, projectSlotKey } from './control/project-limits.ts';
import { ProjectRateLimits } from './control/rate-limits/project-rate-limits.ts';
import { MemoryRateBuckets, type MemoryRateBuffers } from './control/rate-limits/rate-buckets.ts';
import { RetentionSweeper } from './control/retention-sweeper.ts';
import { RouteSync } from './control/route-sync.ts';
import { Scheduler } from './control/scheduler.ts';
import { SecretService } from './control/secret-service.ts';
import { SecretVault } from './control/secret-vault.ts';
import { SlotTable } from './control/slot-table.ts';
import { SnapshotService } from './control/snapshot-service.ts';
import { enqueueBudgetMs, orphanAgeMs } from './data/async-reconcile.ts';
import { AsyncWorker } from './data/async-worker.ts';
import { RuntimeRegistry } from './data/runtime-registry.ts';
import { DataDirLock } from './data-dir-lock.ts';
import { principalOf } from './gateway/cluster-principal.ts';
import { ProjectCors } from './gateway/cors/project-cors.ts';
import { watchCredential } from './gateway/credential-watch.ts';
import { MemorySessionStore } from './gateway/session/memory-session-store.ts';
import { SERVER_NODE_FLAGS } from './node-flags.ts';
import { registerContainerMetrics } from './observability/container-metrics.ts';
import { HttpMetrics } from './observability/http-metrics.ts';
import { LogTail } from './observability/log-tail.ts';
import { MetricsScrape } from './observability/metrics-scrape.ts';
import { OperationMetrics } from './observability/operation-metrics.ts';
import { PlatformMetrics } from './observability/platform-metrics.ts';
import { RequestLog } from './observability/request-log.ts';
import { SandboxMetrics } from './observability/sandbox-metrics.ts';
import { type Tracing, tracingFrom } from './observability/tracing.ts';
import { openQueue, queueBackend } from './queue/open-queue.ts';
import { connectRedis } from './queue/redis/redis-connection.ts';
import { RedisRateBuckets } from './queue/redis/redis-rate-buckets.ts';
import { RedisSessionStore } from './queue/redis/redis-session-store.ts';
import {
  CONTAINER_FUNCTION_KINDS,
  ContainerRuntime,
  createContainerRuntime,
} from './runtimes/container/container-runtime.ts';
import { SANDBOX_DEFAULTS } from './runtimes/container/index.ts';
import {
  hostFrameLimit,
  isolateHostCount,
  isolateMemoryCapMb,
  isolateMemoryMb,
  remoteIsolateRuntime,
} from './runtimes/isolate-hosts/host-settings.ts';
import { IsolateHosts } from './runtimes/isolate-hosts/isolate-hosts.ts';
import { createWasmRuntime, WASM_DEFAULTS } from './runtimes/wasm/wasm-runtime.ts';
import { openMetadataStore } from './store/open-store.ts';
import { ProjectService } from './tenancy/project-service.ts';

/** Everything a running server holds, wired together; the gateway only talks to this. */
/** A worker's copies of the function versions its gateways sent (cluster/version-cache.ts). */
export type WorkerVersions = Pick<VersionCache, 'get' | 'put' | 'retire'>;

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
  /** Projects' secrets, encrypted at rest; functions see the ones they name as env. */
  secrets: SecretService;
  /** Projects (tenants): every key, function and sandbox belongs to one. */
  projects: ProjectService;
  recorder: InvocationRecorder;
  routes: RouteSync;
  worker: AsyncWorker;
  /** Deletes invocations, logs and dead letters past FAAS_RETENTION_DAYS / FAAS_RETENTION_MAX_ROWS. */
  retention: RetentionSweeper;
  /** Deletes the blobs nothing names, and this node's copies of code nothing uses (FAAS_BLOB_GRACE_HOURS). */
  blobCollector: BlobCollector;
  scheduler: Scheduler;
  /** Changes other gateway threads must take in (catalog, revoked keys). */
  changes: ChangeFeed;
  /** Running invocations per function, shared with the other gateway threads. */
  slots: SlotTable;
  /** Rate limits' token buckets: in memory shared with the other gateway threads, or in Redis (FAAS_QUEUE_URL). */
  rateBuckets: RateBuckets;
  /** The memory the gateway threads' buckets are in (with Redis, what stands in while it does not answer). */
  rateBuffers: MemoryRateBuffers;
  /** Projects' rate limits, as this thread's invoke pipeline reads them. */
  projectLimits: ProjectRateLimits;
  /** Projects' CORS settings, reloaded with the routes (every thread has its copy). */
  cors: ProjectCors;
  /** The processes js/ts functions run in; every thread connects to them. */
  isolateHosts: IsolateHosts;
  /** On a gateway of a cluster, the function kinds sent to the workers (every thread sends its own calls). */
  remoteContainerKinds: readonly FunctionRuntime[];
  /** Metrics: this node's registries, and the scrape that merges the gateway threads' in. */
  observability: Observability;
  /** Set on a first start without FAAS_ADMIN_KEY: the generated admin key, to print once. */
  generatedAdminKey: string | undefined;
  /** This node's name in the cluster, kept in the data dir across restarts. */
  nodeId: string;
  /** The cluster this node is part of (FAAS_ROLE gateway or worker); absent for `all`. */
  cluster: ClusterMembership | undefined;
  /** A gateway's: where its instance and snapshot routes go (absent on other roles). */
  instanceRouting: InstanceRoutingHook | undefined;
  /** A worker's: the function versions its gateways sent, which their calls name by digest (absent on other roles). */
  workerVersions: WorkerVersions | undefined;
  /** The console's sessions and the stream tickets: in memory, or in Redis (FAAS_QUEUE_URL) for every gateway. */
  sessions: SessionStore;
  /** Set by `drain`: /ready answers 503 so a load balancer stops sending work here. */
  readonly draining: boolean;
  /** Stops taking new async jobs and reports not ready; running work goes on. Before `close` on SIGTERM. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

export interface Observability {
  metrics: PlatformMetrics;
  /** The main thread's HTTP requests (each gateway thread has its own). */
  http: HttpMetrics;
  scrape: MetricsScrape;
  /** Every invocation's start, logs and end as they happen (GET /api/v1/logs/stream). */
  tail: LogTail;
  /** The main thread's request log lines (each gateway thread has its own). */
  requests: RequestLog;
  /** The main thread's spans, exported over OTLP; absent when tracing is off. */
  tracing?: Tracing;
}

type Logger = Pick<Console, 'error' | 'warn' | 'info'>;

/** How often runtimes' health is checked: how soon an engine that comes up serves functions. */
const RUNTIME_HEALTH_EVERY_MS = 2_000;
/** Schedules deployed through another thread or server are picked up within this long. */
const SCHEDULE_SYNC_MS = 1_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * Opens the platform: the metadata store the config picks (SQLite in the data dir, or
 * PostgreSQL), the queue it picks (SQLite, or Redis at FAAS_QUEUE_URL), the blob store it picks
 * (local, or S3 at FAAS_OBJECT_STORE_URL behind a local cache), isolate + container runtimes.
 * @throws FaasError DATA_DIR_IN_USE when another server holds the data dir (nothing is touched
 *   then, containers included); STORAGE_READ_ONLY when the data dir or database cannot be written;
 *   STORAGE_UNAVAILABLE naming FAAS_QUEUE_URL when its Redis cannot be reached, or
 *   FAAS_OBJECT_STORE_URL when its bucket cannot be used.
 */
export async function createPlatform(config: Readonly<Config>, logger: Logger = console): Promise<Platform> {
  const lock = DataDirLock.acquire(config.dataDir);
  try {
    return await openPlatform(config, logger, lock);
  } catch (err) {
    lock.release();
    throw err;
  }
}

async function openPlatform(config: Readonly<Config>, logger: Logger, lock: DataDirLock): Promise<Platform> {
  const nodeId = nodeIdentity(config.dataDir);
  const dbPath = join(config.dataDir, 'faas.db');
  // Every store and queue call of the main thread is timed (the gateway threads' are not).
  const operations = new OperationMetrics();
  const store = operations.store(await openMetadataStore(config, 'server'));
  // Before anything else starts (so a refusal leaves nothing running) and before anything runs a
  // function: a bad key file, or a key that is not the store's (servers sharing it must share
  // the key), stops the start here; on a store of this server's alone, secrets still under
  // FAAS_SECRET_KEY_PREVIOUS move to the current key (a shared store's wait for `faas secrets rotate`).
  let secrets: SecretService;
  let rotation: Awaited<ReturnType<SecretService['checkStoreKey']>>;
  try {
    secrets = new SecretService(store, SecretVault.open(config));
    rotation = await secrets.checkStoreKey({
      // On PostgreSQL other servers may share the store; SQLite's is this server's alone.
      shared: config.databaseUrl !== undefined,
      warn: (message) => logger.warn(message),
    });
  } catch (err) {
    await store.close();
    throw err;
  }
  let queue: Queue;
  try {
    queue = operations.queue(
      await openQueue(queueBackend(config, dbPath), {
        retry: { baseDelayMs: config.retryBaseDelayMs, maxDelayMs: config.retryMaxDelayMs },
        logger,
      }),
    );
  } catch (err) {
    await store.close();
    throw err;
  }
  // Every thread's buckets are in this memory; with Redis, every gateway's are in Redis.
  const rateMemory = new MemoryRateBuckets();
  let rateBuckets: RateBuckets;
  try {
    rateBuckets = config.queueUrl
      ? await RedisRateBuckets.open(config.queueUrl, config.queuePrefix, rateMemory, logger)
      : rateMemory;
  } catch (err) {
    await queue.close();
    await store.close();
    throw err;
  }
  let sessions: SessionStore;
  try {
    sessions = config.queueUrl
      ? await RedisSessionStore.open(config.queueUrl, config.queuePrefix, logger)
      : new MemorySessionStore();
  } catch (err) {
    await rateBuckets.close();
    await queue.close();
    await store.close();
    throw err;
  }
  const blobSource = blobBackend(config);
  let blobs: BlobStore;
  try {
    blobs = await openBlobStore(blobSource, { verify: true, logger });
  } catch (err) {
    await sessions.close();
    await rateBuckets.close();
    await queue.close();
    await store.close();
    throw err;
  }

  const isolateHosts = await IsolateHosts.start({
    count: isolateHostCount(config),
    blobsRoot: localBlobRoot(blobSource),
    // Hosts hold no credentials: a blob not on this disk yet is fetched by the server into it.
    ...(blobSource.kind === 's3'
      ? { fetchBlob: async (sha256: string) => (await blobs.get(sha256)) !== undefined }
      : {}),
    idleTimeoutMs: config.idleTimeoutMs,
    maxFrameBytes: hostFrameLimit(config),
    memoryBudgetMb: isolateMemoryMb(config),
    maxIsolates: config.maxIsolates,
    nodeFlags: SERVER_NODE_FLAGS,
    logger,
  });
  const isolates = remoteIsolateRuntime(config, isolateHosts, logger);
  const runtimeList: Runtime[] = [isolates];
  // A gateway holds no containers: it is the stateless front, and workers hold the engine.
  if (config.role !== 'gateway') {
    runtimeList.push(
      createContainerRuntime({
        blobs,
        dataDir: join(config.dataDir, 'containers'),
        idleTimeoutMs: config.idleTimeoutMs,
        dockerHost: config.dockerHost,
        restoreStandbys: config.restoreStandbys,
        instanceLimits: { maxLive: config.instanceMaxTotal, maxLivePerOwner: config.instanceMaxPerKey },
        dependencies: {
          allowNonRegistry: config.allowNonRegistryDependencies,
          npmRegistry: config.npmRegistry,
          pipIndexUrl: config.pipIndexUrl,
        },
        dependencyCacheMb: config.dependencyCacheMb,
        logger,
      }),
    );
  }
  // wasm runs in worker threads of the main process (gateway threads pass wasm calls on to it).
  runtimeList.push(
    createWasmRuntime({
      blobs,
      maxWorkers: config.wasmWorkers,
      idleTimeoutMs: config.idleTimeoutMs,
      maxResultBytes: Math.max(config.bodyLimitBytes, WASM_DEFAULTS.maxResultBytes),
      logger,
    }),
  );
  const containerRuntime = runtimeList.find((r): r is ContainerRuntime => r instanceof ContainerRuntime);
  const cluster =
    config.role === 'all' || !config.queueUrl
      ? undefined
      : new ClusterMembership({
          config,
          nodeId,
          registry: new RedisNodeRegistry(
            await connectRedis({
              url: config.queueUrl,
              setting: 'FAAS_QUEUE_URL',
              timeoutMs: CLUSTER_REDIS_TIMEOUT_MS,
              logger,
            }),
            config.queuePrefix,
          ),
          containers: containerRuntime,
          ...(containerRuntime ? { sandboxes: () => containerRuntime.instances.heartbeatView() } : {}),
          logger,
        });
  // A gateway's container calls go to the workers, through the same Runtime interface.
  let remoteExecute: RemoteExecute<ExecuteRequest, ExecuteResult> | undefined;
  let instanceRouting: InstanceRoutingHook | undefined;
  let forwarder: RequestForwarder | undefined;
  let directory: WorkerDirectory | undefined;
  // Which worker holds each instance, read by every gateway, written by the workers.
  const placements =
    cluster && config.queueUrl
      ? new InstancePlacements(
          await connectRedis({
            url: config.queueUrl,
            setting: 'FAAS_QUEUE_URL',
            timeoutMs: CLUSTER_REDIS_TIMEOUT_MS,
            logger,
          }),
          config.queuePrefix,
        )
      : undefined;
  if (cluster && config.role === 'gateway' && config.clusterSecret) {
    directory = new WorkerDirectory(cluster.registry, (err) =>
      logger.error('reading the worker registry failed', err),
    );
    await directory.start();
    if (placements) {
      forwarder = new RequestForwarder(config.clusterSecret, principalOf);
      instanceRouting = routeInstances({
        directory,
        placements,
        forwarder,
        instanceQuota: (project) => limits.of(project)?.instances,
        workerTimeoutMs: config.workerTimeoutMs,
        watchCaller: (request, cut) => watchCredential(request, config.routeSyncMs, cut),
      });
    }
    remoteExecute = new RemoteExecute({
      directory,
      secret: config.clusterSecret,
      defaultTimeoutMs: SANDBOX_DEFAULTS.timeoutMs,
      log: (message, err) => logger.warn(message, err),
    });
    runtimeList.push(
      new RemoteContainerRuntime({
        directory,
        secret: config.clusterSecret,
        kinds: CONTAINER_FUNCTION_KINDS,
        log: (message, err) => logger.warn(message, err),
      }),
    );
  }
  const runtimes = new RuntimeRegistry(runtimeList);
  await runtimes.refreshHealth();
  runtimes.watchHealth(RUNTIME_HEALTH_EVERY_MS, (err) => logger.error('checking runtime health failed', err));

  if (rotation.reencrypted > 0)
    logger.info(`re-encrypted ${rotation.reencrypted} secret(s) under the current secret key`);
  if (rotation.pending) {
    logger.info(
      "the store's secrets stay under FAAS_SECRET_KEY_PREVIOUS (and new values are written with it) until `faas secrets rotate`: run it once every server has the new FAAS_SECRET_KEY (docs/security.md)",
    );
  }
  if (rotation.unreadable.length > 0) {
    logger.error(
      `${rotation.unreadable.length} secret(s) do not decrypt with FAAS_SECRET_KEY or FAAS_SECRET_KEY_PREVIOUS (${rotation.unreadable.join(', ')}): start with the key that wrote them, or set them again`,
    );
  }

  const changes = new ChangeFeed();
  const slots = new SlotTable();
  const catalog = new FunctionCatalog(store, changes.publish);
  const limits = new ProjectLimits();
  const cors = new ProjectCors();
  const projectLimits = new ProjectRateLimits(store, Date.now, config.routeSyncMs);
  let keys: ApiKeyService | undefined;
  const routes = new RouteSync(
    store,
    catalog,
    (list) => changes.publish({ kind: 'routes', routes: list }),
    (projects) => {
      limits.replace(projects);
      cors.replace(projects);
      projectLimits.replace(projects);
      changes.publish({ kind: 'projects', projects });
    },
    () => {
      keys?.forgetAll();
      changes.publish({ kind: 'keys' });
    },
  );
  await routes.refresh();
  routes.start(config.routeSyncMs, (err) => logger.error('route sync failed', err));

  let worker: AsyncWorker | undefined;
  const tail = new LogTail();
  // Its gauges read the recorder and the worker at scrape time, once both exist.
  const metrics = new PlatformMetrics({
    queue,
    runtimes,
    isolateHosts: isolates,
    slots,
    recorder: { stats: () => recorder.stats() },
    leaseStats: () => worker?.leaseStats ?? { renewalFailures: 0, leasesLost: 0 },
  });
  const tracing = tracingFrom(config);
  const recorder = new InvocationRecorder(store, {
    ...(tracing ? { tracing } : {}),
    maxPending: config.maxPendingRecords,
    onError: (err) => logger.error('recording invocations failed', err),
    onRecord: (invocation, logs, runtime) => {
      metrics.observeInvocation({ invocation, runtime });
      tail.finished(invocation, logs);
    },
  });
  const limiter = new ConcurrencyLimiter(config.concurrencyWaitMs, slots);
  const invocations = new InvocationService({
    store,
    queue,
    catalog,
    runtimes,
    limiter,
    limits,
    maxQueuedPerProject: config.maxQueuedPerProject,
    recorder,
    secrets,
    onEnqueued: (fn) => worker?.wake(fn),
    enqueueBudgetMs: enqueueBudgetMs(config.queueLeaseMs),
    orphanAgeMs: orphanAgeMs(config.queueLeaseMs),
    ...(tracing ? { tracing } : {}),
  });
  worker = new AsyncWorker({
    store,
    queue,
    catalog,
    invocations,
    slots: limiter,
    projectSlot: (project) => {
      const limit = limits.of(project)?.concurrentInvocations;
      return limit === undefined ? undefined : { key: projectSlotKey(project), limit };
    },
    concurrency: config.queueConcurrency,
    leaseMs: config.queueLeaseMs,
    pollMs: config.queuePollMs,
    logger,
    metrics,
    tail,
    ...(tracing ? { tracing } : {}),
  });
  // A deleted function's series go (docs/observability.md): this node's deletes at once, what a
  // thread posted of the function counted first (not brought back by the next scrape); another
  // node's deletes once the store's revision moves (the catalog forgets everything then), by the
  // sweep that follows each load of the routes.
  changes.subscribe((change) => {
    if (change.kind === 'forget') {
      recorder.takeInPosted();
      metrics.forget(change.name);
    } else if (change.kind === 'invalidate' && change.name === undefined) metrics.checkAll();
    else if (change.kind === 'routes') {
      metrics
        .sweep(store)
        .catch((err) => logger.error('forgetting the metrics of deleted functions failed', err));
    }
  });
  const http = new HttpMetrics();
  const observability: Observability = {
    metrics,
    http,
    tail,
    requests: new RequestLog(config.logLevel),
    scrape: new MetricsScrape([metrics.registry, http.registry, operations.registry], () =>
      recorder.takeInPosted(),
    ),
    ...(tracing ? { tracing } : {}),
  };
  const functions = new FunctionService({
    store,
    blobs,
    catalog,
    routes,
    runtimes,
    maxCodeBytes: Math.max(config.bodyLimitBytes * 4, 50 * 1024 * 1024),
    caps: {
      memoryMb: config.maxFunctionMemoryMb,
      maxConcurrency: config.maxFunctionConcurrency,
      isolateMemoryMb: isolateMemoryCapMb(config),
    },
    secrets,
    logger,
  });
  const instanceLimits = instanceLimitsFrom(config);
  const instances = new InstanceService(
    runtimes,
    instanceLimits,
    limits,
    placements && config.role === 'worker'
      ? {
          placements,
          nodeId,
          maxLivePerKey: config.instanceMaxPerKey,
          onError: (err: unknown) =>
            logger.warn("an instance's start or stop could not be written to the placements (Redis)", err),
        }
      : undefined,
  );
  // Ends what runs in the background from the start (close aborts it).
  const starting = new AbortController();
  if (placements && config.role === 'worker') {
    // Entries of this node whose container did not survive (the machine was lost, or the engine
    // removed it): lost, not silently missing. Once the runtime found its instances again,
    // however long the engine takes to answer.
    void instances
      .markLostOfThisNodeUntilDone(starting.signal, (err, retryInMs) =>
        logger.warn(`marking instances of a previous run lost failed; trying again in ${retryInMs} ms`, err),
      )
      .then((marked) => {
        if (marked) logger.warn(`marked ${marked} instance(s) of this node's previous run lost`);
      });
  }
  const sandboxMetrics = new SandboxMetrics(metrics.registry, async () => instances.manager.list());
  registerContainerMetrics(metrics.registry, {
    containers: () => containerRuntime?.containers(),
    restoresServed: () => containerRuntime?.instances.restoresServed,
  });
  const snapshots = new SnapshotService({ store, blobs, instances, metrics: sandboxMetrics });
  const execute = new ExecuteService({
    runtimes,
    cache: new ExecCache({ store }),
    instances,
    snapshots,
    limits: instanceLimits,
    metrics: sandboxMetrics,
    ...(remoteExecute ? { remote: remoteExecute } : {}),
  });
  keys = new ApiKeyService(
    store,
    (id) => changes.publish({ kind: 'key', id }),
    new AuthThrottle({ limit: config.authFailureLimit, windowMs: config.authFailureWindowMs }),
    JwtTokens.from(config),
    config.routeSyncMs,
  );
  const generatedAdminKey = await keys.bootstrap(config.adminKey);
  const projects = new ProjectService(store, (name) => {
    projectLimits.forget(name);
    changes.publish({ kind: 'project', name });
  });

  // Its first sweep fails the async records a crash left without a job (this node's, or a dead
  // gateway's), then each sweep those that became old enough since.
  await worker.start();
  const retention = new RetentionSweeper({
    store,
    queue,
    retentionDays: config.retentionDays,
    maxInvocations: config.retentionMaxRows,
    logger,
  });
  retention.start();
  // A worker leaves the blob store to the gateways, which share it and the records with it. Two
  // gateways collecting at once only repeat each other's work: each delete checks the time again.
  const blobCollector = new BlobCollector({
    store,
    blobs: config.role === 'worker' ? undefined : blobs,
    unpackedCode: {
      // One failing (a folder it cannot read) does not keep the other from its work.
      collect: async (named, before) => {
        const [caches, code] = await Promise.allSettled([
          isolateHosts.collectCodeCaches(named, before),
          containerRuntime ? containerRuntime.collectCode(named, before) : 0,
        ]);
        for (const result of [caches, code])
          if (result.status === 'rejected') logger.error('collecting code copies failed', result.reason);
        return (
          (caches.status === 'fulfilled' ? caches.value : 0) + (code.status === 'fulfilled' ? code.value : 0)
        );
      },
    },
    graceMs: config.blobGraceHours * HOUR_MS,
    logger,
  });
  blobCollector.start();
  const scheduler = new Scheduler({
    store,
    invocations,
    missed: config.scheduleMissed,
    catchUpMs: config.retentionDays > 0 ? config.retentionDays * DAY_MS : Number.POSITIVE_INFINITY,
    logger,
  });
  await scheduler.start(Math.min(config.routeSyncMs, SCHEDULE_SYNC_MS));

  const asyncWorker = worker;
  let draining: Promise<void> | undefined;
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
    secrets,
    projects,
    recorder,
    routes,
    worker: asyncWorker,
    retention,
    blobCollector,
    scheduler,
    changes,
    slots,
    rateBuckets,
    rateBuffers: rateMemory.buffers,
    projectLimits,
    cors,
    isolateHosts,
    remoteContainerKinds: remoteExecute ? CONTAINER_FUNCTION_KINDS : [],
    observability,
    generatedAdminKey,
    nodeId,
    cluster,
    instanceRouting,
    workerVersions: config.role === 'worker' ? new VersionCache() : undefined,
    sessions,
    get draining() {
      return draining !== undefined;
    },
    drain() {
      draining ??= Promise.all([cluster?.drain(), asyncWorker.stop()]).then(() => undefined);
      return draining;
    },
    async close() {
      starting.abort();
      await cluster?.close();
      forwarder?.close();
      directory?.stop();
      await placements?.close();
      routes.stop();
      await scheduler.stop();
      await retention.stop();
      await blobCollector.stop();
      await asyncWorker.stop();
      await recorder.close();
      await runtimes.close();
      await isolateHosts.close();
      await sessions.close();
      await rateBuckets.close();
      await queue.close();
      await store.close();
      await blobs.close();
      await observability.requests.close();
      // Last: every span ended above is sent (or the collector's failure is ignored).
      await tracing?.shutdown().catch((err: unknown) => logger.warn('exporting the last spans failed', err));
      lock.release();
    },
  };
}
