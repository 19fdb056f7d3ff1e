// Section 6: async throughput, enqueue to completion of N trivial async invocations, on the
// embedded SQLite queue and on the Redis queue (FAAS_QUEUE_URL), one server after the other with
// the same settings, in one run.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { api, deploy } from './lib/faas-api.ts';
import { type FaasServer, startFaasServer } from './lib/processes.ts';
import type { Metric } from './lib/report.ts';
import { rps } from './lib/stats.ts';

const NAME = 'bench-async';
/** Enqueue requests in flight at once: enough to keep the gateway busy, not a flood. */
const ENQUEUE_CONNECTIONS = 32;
const POLL_MS = 20;
const DRAIN_TIMEOUT_MS = 600_000;

interface QueueCounts {
  depth: number;
  running: number;
  delayed: number;
  dead: number;
}

interface AsyncRun {
  enqueueMs: number;
  totalMs: number;
}

export interface AsyncQueueOptions {
  /** Invocations per queue (10,000 by default). */
  count: number;
  /** The Redis to measure; without it the section measures SQLite alone and says so. */
  redisUrl: string | undefined;
  log: (line: string) => void;
}

export async function measureAsyncQueues(opts: AsyncQueueOptions): Promise<Metric[]> {
  const { count, redisUrl, log } = opts;
  const sqlite = await measureOn({}, count, log, 'sqlite');
  if (!redisUrl) {
    log('  redis:  skipped (BENCH_REDIS_URL / FAAS_TEST_REDIS_URL unset)');
    return metrics(count, sqlite, undefined);
  }
  const prefix = `bench-${randomBytes(6).toString('hex')}`;
  try {
    const redis = await measureOn(
      { FAAS_QUEUE_URL: redisUrl, FAAS_QUEUE_PREFIX: prefix },
      count,
      log,
      'redis ',
    );
    log(`  redis / sqlite throughput: ${(throughput(count, redis) / throughput(count, sqlite)).toFixed(2)}`);
    return metrics(count, sqlite, redis);
  } finally {
    dropPrefix(redisUrl, prefix);
  }
}

async function measureOn(
  env: Record<string, string>,
  count: number,
  log: (line: string) => void,
  label: string,
): Promise<AsyncRun> {
  const server = await startFaasServer(env);
  try {
    await deploy(server, { name: NAME, runtime: 'js', code: 'export default (e) => e.i', maxRetries: 0 });
    // Warm: the isolate and both code paths, so the timed run measures the queue, not a cold start.
    await enqueueAll(server, 200);
    await drained(server);
    const before = await succeededCount(server);

    const started = performance.now();
    await enqueueAll(server, count);
    const enqueued = performance.now();
    const last = await drained(server);
    const finished = performance.now();

    const succeeded = (await succeededCount(server)) - before;
    if (last.dead > 0 || succeeded !== count) {
      throw new Error(`${label}: ${succeeded} of ${count} succeeded, ${last.dead} dead-lettered`);
    }
    const run = { enqueueMs: enqueued - started, totalMs: finished - started };
    log(
      `  ${label}: enqueue ${rps((count * 1000) / run.enqueueMs)}, enqueue to completion ${(run.totalMs / 1000).toFixed(2)} s = ${rps(throughput(count, run))}`,
    );
    return run;
  } finally {
    await server.stop();
  }
}

async function enqueueAll(server: FaasServer, count: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const res = await api(server, 'POST', `/api/v1/functions/${NAME}/invoke?async=true`, { i }, [202]);
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: ENQUEUE_CONNECTIONS }, worker));
}

/** Resolves once no job waits, runs or backs off. */
async function drained(server: FaasServer): Promise<QueueCounts> {
  const deadline = performance.now() + DRAIN_TIMEOUT_MS;
  for (;;) {
    const counts = (await (await api(server, 'GET', '/api/v1/queue')).json()) as QueueCounts;
    if (counts.depth === 0 && counts.running === 0 && counts.delayed === 0) return counts;
    if (performance.now() > deadline) throw new Error(`queue not drained: ${JSON.stringify(counts)}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Succeeded invocations of the function, counted page by page (not timed). */
async function succeededCount(server: FaasServer): Promise<number> {
  let total = 0;
  let cursor: string | undefined;
  do {
    const query = `functionName=${NAME}&status=succeeded&limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = (await (await api(server, 'GET', `/api/v1/invocations?${query}`)).json()) as {
      items: unknown[];
      nextCursor?: string;
    };
    total += page.items.length;
    cursor = page.nextCursor;
  } while (cursor);
  return total;
}

const throughput = (count: number, run: AsyncRun) => (count * 1000) / run.totalMs;

function metrics(count: number, sqlite: AsyncRun, redis: AsyncRun | undefined): Metric[] {
  const section = 'async throughput';
  return [
    {
      section,
      metric: `async enqueue to completion, ${count} invocations, Redis queue vs SQLite queue`,
      unit: 'req/s',
      faas: redis ? throughput(count, redis) : Number.NaN,
      baseline: throughput(count, sqlite),
      ...(redis ? { ratio: throughput(count, redis) / throughput(count, sqlite) } : {}),
      ...(redis ? {} : { note: 'Redis not measured: no BENCH_REDIS_URL or FAAS_TEST_REDIS_URL' }),
    },
    {
      section,
      metric: `async enqueue only, ${count} invocations, Redis queue vs SQLite queue`,
      unit: 'req/s',
      faas: redis ? (count * 1000) / redis.enqueueMs : Number.NaN,
      baseline: (count * 1000) / sqlite.enqueueMs,
      ...(redis ? { ratio: sqlite.enqueueMs / redis.enqueueMs } : {}),
    },
  ];
}

/** What a finished run leaves under its prefix (the enqueue counter): best effort, via redis-cli. */
function dropPrefix(url: string, prefix: string): void {
  const keys = ['seq', 'ready', 'leased', 'dead'].map((k) => `{${prefix}}:${k}`);
  try {
    execFileSync('redis-cli', ['-u', url, 'DEL', ...keys], { stdio: 'ignore' });
  } catch {
    // No redis-cli here: a few bytes stay in Redis.
  }
}
