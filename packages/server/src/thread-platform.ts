import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import type {
  Config,
  FunctionRuntime,
  FunctionVersion,
  Invocation,
  RateBuckets,
  Runtime,
  StoredLogLine,
} from '@faas/core';
import { CLUSTER_REDIS_TIMEOUT_MS, RedisNodeRegistry } from './cluster/redis-node-registry.ts';
import { RemoteContainerRuntime } from './cluster/remote-container-runtime.ts';
import { WorkerDirectory } from './cluster/worker-directory.ts';
import { ApiKeyService } from './control/api-key-service.ts';
import { AuthThrottle } from './control/auth-throttle.ts';
import type { PlatformChange } from './control/change-feed.ts';
import { ConcurrencyLimiter } from './control/concurrency-limiter.ts';
import { FunctionCatalog } from './control/function-catalog.ts';
import type { RecordMessage } from './control/invocation-recorder.ts';
import { InvocationService } from './control/invocation-service.ts';
import { JwtTokens } from './control/jwt-tokens.ts';
import { ProjectLimits } from './control/project-limits.ts';
import { ProjectRateLimits } from './control/rate-limits/project-rate-limits.ts';
import { MemoryRateBuckets, type MemoryRateBuffers } from './control/rate-limits/rate-buckets.ts';
import { RecordBacklog } from './control/record-backlog.ts';
import { RouteTable } from './control/route-table.ts';
import { SecretService } from './control/secret-service.ts';
import { SecretVault } from './control/secret-vault.ts';
import { SlotTable } from './control/slot-table.ts';
import { RuntimeRegistry } from './data/runtime-registry.ts';
import { ProjectCors } from './gateway/cors/project-cors.ts';
import { type Tracing, tracingFrom } from './observability/tracing.ts';
import { connectRedis } from './queue/redis/redis-connection.ts';
import { RedisRateBuckets } from './queue/redis/redis-rate-buckets.ts';
import { remoteIsolateRuntime } from './runtimes/isolate-hosts/host-settings.ts';
import type { HostEndpoint } from './runtimes/isolate-hosts/isolate-hosts.ts';
import type { RemoteIsolateRuntime } from './runtimes/isolate-hosts/remote-isolate-runtime.ts';
import { openMetadataStore } from './store/open-store.ts';

/** What a gateway thread is given by the main thread to build its platform. */
export interface ThreadPlatformInput {
  config: Readonly<Config>;
  /** The SlotTable's buffer, and this thread's own counts in it. */
  slots: SharedArrayBuffer;
  slotsHeld: SharedArrayBuffer;
  /** The rate limits' buckets (MemoryRateBuckets' buffers). */
  rateBuffers: MemoryRateBuffers;
  /** The recorder's backlog flag: set while sync calls must be refused (RecordBacklog). */
  recordBacklog: SharedArrayBuffer;
  /** Where this thread's invocation records go (the main thread's recorder). */
  records: MessagePort;
  /** PlatformChanges from the main thread. */
  changes: MessagePort;
  isolateEndpoints: readonly HostEndpoint[];
  /**
   * On a gateway of a cluster: the container function kinds, whose calls this thread sends to the
   * workers itself (empty elsewhere: a container call is passed to the main thread).
   */
  remoteContainerKinds: readonly FunctionRuntime[];
}

/** A gateway thread's share of the platform: what its invoke pipeline needs, read-only. */
export interface ThreadPlatform {
  keys: ApiKeyService;
  invocations: InvocationService;
  routes: RouteTable;
  runtime: RemoteIsolateRuntime;
  /** Whether this thread runs the function's sync calls itself (else the main thread does). */
  runsHere(fn: FunctionVersion): boolean;
  /** The rate limits' buckets: views of the main thread's. */
  rateBuckets: RateBuckets;
  projectLimits: ProjectRateLimits;
  /** Projects' CORS settings, as the main thread last loaded them. */
  cors: ProjectCors;
  /** This thread's spans and exporter; absent when tracing is off. */
  tracing?: Tracing;
  /**
   * Writes a response once the invocation records of this turn have left for the main thread,
   * so the main thread finds every invocation a client was told about.
   */
  respond(write: () => void): void;
  /** Takes in every change the main thread published before the request at hand arrived. */
  catchUp(): void;
  close(): Promise<void>;
}

/**
 * Builds a gateway thread's platform (beside createPlatform, the main thread's): it reads the
 * store the main thread migrated and writes (records go to the main thread), runs js/ts in the
 * isolate hosts every thread shares, and counts concurrency in the table all threads share.
 */
export async function createThreadPlatform(
  input: ThreadPlatformInput,
  logger: Pick<Console, 'error' | 'warn'> = console,
): Promise<ThreadPlatform> {
  const { config } = input;
  const store = await openMetadataStore(config, 'gateway-thread');
  const runtime = remoteIsolateRuntime(config, { endpoints: input.isolateEndpoints }, logger);
  const containers = await remoteContainers(config, input.remoteContainerKinds, logger);
  const runtimes: Runtime[] = containers ? [runtime, containers.runtime] : [runtime];
  const catalog = new FunctionCatalog(store);
  const keys = new ApiKeyService(
    store,
    undefined,
    new AuthThrottle({ limit: config.authFailureLimit, windowMs: config.authFailureWindowMs }),
    JwtTokens.from(config),
    config.routeSyncMs,
  );
  const routes = new RouteTable();
  routes.replace(await store.listRoutes());
  const limits = new ProjectLimits();
  const cors = new ProjectCors();
  const projects = await store.listProjects();
  limits.replace(projects);
  cors.replace(projects);

  // The invocations finished in one turn of the event loop go to the main thread in one message,
  // and only then are their responses written.
  let records: RecordMessage[] = [];
  let writes: Array<() => void> = [];
  let posting = false;
  const schedulePost = () => {
    if (posting) return;
    posting = true;
    setImmediate(() => {
      posting = false;
      if (records.length > 0) input.records.postMessage(records);
      const due = writes;
      records = [];
      writes = [];
      for (const write of due) write();
    });
  };

  const projectLimits = new ProjectRateLimits(store, Date.now, config.routeSyncMs);
  const rateMemory = MemoryRateBuckets.view(input.rateBuffers);
  const rateBuckets: RateBuckets = config.queueUrl
    ? await RedisRateBuckets.open(config.queueUrl, config.queuePrefix, rateMemory, logger)
    : rateMemory;

  const backlog = new RecordBacklog(input.recordBacklog);
  const tracing = tracingFrom(config);
  const invocations = new InvocationService({
    ...(tracing ? { tracing } : {}),
    // The main thread made the key file (if any) before starting this thread: it is only read.
    secrets: new SecretService(store, SecretVault.open(config, false)),
    store,
    catalog,
    runtimes: new RuntimeRegistry(runtimes),
    limiter: new ConcurrencyLimiter(config.concurrencyWaitMs, new SlotTable(input.slots, input.slotsHeld)),
    limits,
    recorder: {
      admit: () => backlog.admit(),
      record: (
        invocation: Invocation,
        logs: Omit<StoredLogLine, 'seq'>[],
        runtime?: FunctionRuntime,
        traceparent?: string,
      ) => {
        records.push({
          invocation,
          logs,
          ...(runtime ? { runtime } : {}),
          ...(traceparent !== undefined ? { traceparent } : {}),
        });
        schedulePost();
      },
      pending: () => undefined,
      pendingLogs: () => [],
    },
  });

  const apply = (change: PlatformChange) => {
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
      case 'projects':
        limits.replace(change.projects);
        cors.replace(change.projects);
        projectLimits.replace(change.projects);
        break;
      case 'key':
        keys.forget(change.id);
        break;
      case 'keys':
        keys.forgetAll();
        break;
      case 'project':
        projectLimits.forget(change.name);
        break;
    }
  };
  input.changes.on('message', apply);

  return {
    keys,
    invocations,
    routes,
    runtime,
    runsHere: (fn) => runtimes.some((r) => r.supports(fn.runtime)),
    rateBuckets,
    projectLimits,
    cors,
    ...(tracing ? { tracing } : {}),
    respond(write) {
      writes.push(write);
      schedulePost();
    },
    catchUp() {
      for (let m = receiveMessageOnPort(input.changes); m; m = receiveMessageOnPort(input.changes)) {
        apply(m.message as PlatformChange);
      }
    },
    async close() {
      await rateBuckets.close();
      await runtime.close();
      await containers?.runtime.close();
      await containers?.registry.close();
      await store.close();
      input.changes.close();
      input.records.close();
      // This thread's spans leave from here: sent before the thread ends.
      await tracing?.shutdown().catch((err: unknown) => logger.warn('exporting the last spans failed', err));
    },
  };
}

/**
 * A gateway thread's own way to the workers: its copy of the registry and its own connections,
 * so that a container call landing on this thread goes to a worker from here instead of through
 * the main thread (one Unix-socket round trip and a wake-up of the main thread less per call).
 * Placement corrects the heartbeats by this thread's own calls (InFlightCalls), not the whole
 * gateway's: between two heartbeats, each thread spreads its own calls.
 */
async function remoteContainers(
  config: Readonly<Config>,
  kinds: readonly FunctionRuntime[],
  logger: Pick<Console, 'error' | 'warn'>,
): Promise<{ runtime: RemoteContainerRuntime; registry: RedisNodeRegistry } | undefined> {
  if (kinds.length === 0 || !config.queueUrl || !config.clusterSecret) return undefined;
  const registry = new RedisNodeRegistry(
    await connectRedis({
      url: config.queueUrl,
      setting: 'FAAS_QUEUE_URL',
      timeoutMs: CLUSTER_REDIS_TIMEOUT_MS,
      logger,
    }),
    config.queuePrefix,
  );
  const directory = new WorkerDirectory(registry, (err) =>
    logger.error('reading the worker registry failed (gateway thread)', err),
  );
  await directory.start();
  return {
    runtime: new RemoteContainerRuntime({ directory, secret: config.clusterSecret, kinds }),
    registry,
  };
}
