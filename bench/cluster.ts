// Section 11: a cluster on loopback (PostgreSQL, Redis, S3; one gateway, workers as processes).
// - the hop: a warm container invoke through the gateway vs the same call on the worker directly,
//   alternated call by call in blocks so both see the same machine (target: p50 added ≤ 1 ms),
//   beside the same call through a plain node:http pass-through process (bench/baseline-proxy.ts):
//   the floor any extra process on the path costs on this machine at that moment;
// - async throughput with one worker, then two (target ≥ 1.6×): jobs that sleep, so the figure is
//   the cluster's slots and placement rather than the 2 shared cores; each worker takes
//   WORKER_SLOTS jobs at a time and the gateway (which must consume: FAAS_QUEUE_CONCURRENCY ≥ 1)
//   one, the batch is enqueued faster than one worker drains it, so one worker is saturated;
// - the placement decision (pickWorker over 2, 10 and 100 workers), in process;
// - change propagation: a new version and a key revoked through one gateway, until a second one
//   shows it (target: median ≤ 1 s, issue 14).
import { cpus } from 'node:os';
import type { ClusterNodeRecord } from '@faas/core';
import { InFlightCalls } from '../packages/server/src/cluster/in-flight-calls.ts';
import { pickWorker } from '../packages/server/src/cluster/placement.ts';
import { toDirectoryNode } from '../packages/server/src/cluster/worker-directory.ts';
import { startTestCluster } from '../test/support/cluster.ts';
import { ADMIN_KEY } from '../test/support/server.ts';
import { startBaselineProxy } from './lib/processes.ts';
import type { Metric } from './lib/report.ts';
import { ms, percentile, sleep } from './lib/stats.ts';

const SECTION = '11. cluster';
/** A job is mostly waiting, as an I/O-bound function is: its CPU is not what the figure measures. */
const JOB_MS = 100;
/**
 * Async jobs each worker runs at once (its FAAS_QUEUE_CONCURRENCY): one worker's capacity, kept
 * small enough that two workers' jobs do not use up the 2 shared cores (the CPU busy figure).
 */
const WORKER_SLOTS = 4;
/** Blocks of alternated hop calls. */
const HOP_BLOCKS = 3;
/** The gateway's: the least it may take. Its container jobs run on a worker too, beyond that worker's slots. */
const GATEWAY_SLOTS = 1;

export async function measureCluster(options: {
  rounds: number;
  asyncCount: number;
  log: (line: string) => void;
}): Promise<Metric[]> {
  const { log } = options;
  const metrics: Metric[] = [...placementTime(log)];
  const cluster = await startTestCluster();
  try {
    const workerSettings = { FAAS_QUEUE_CONCURRENCY: String(WORKER_SLOTS), FAAS_LOG_LEVEL: 'error' };
    const gatewaySettings = { FAAS_QUEUE_CONCURRENCY: String(GATEWAY_SLOTS), FAAS_LOG_LEVEL: 'error' };
    const gateway = await cluster.start('gateway', gatewaySettings);
    const first = await cluster.start('worker', workerSettings);
    const call = (base: string, path: string, init: RequestInit = {}) =>
      fetch(base + path, {
        ...init,
        headers: {
          authorization: `Bearer ${ADMIN_KEY}`,
          'content-type': 'application/json',
          ...init.headers,
        },
      });
    const deploy = async (spec: Record<string, unknown>) => {
      const res = await call(gateway.url, '/api/v1/functions', {
        method: 'POST',
        body: JSON.stringify(spec),
      });
      if (res.status !== 201) throw new Error(`deploy ${spec.name}: ${res.status} ${await res.text()}`);
    };
    await deploy({ name: 'echo', runtime: 'node', code: 'export default (e) => e' });
    const invoke = async (base: string): Promise<number> => {
      const t = performance.now();
      const res = await call(base, '/api/v1/functions/echo/invoke', { method: 'POST', body: '{"n":1}' });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`invoke on ${base}: ${res.status}`);
      return performance.now() - t;
    };
    for (let i = 0; i < 20; i++) {
      await invoke(first.url);
      await invoke(gateway.url);
    }
    let hopFigures = { d50: 0, h50: 0, d99: 0, h99: 0, added: 0, floor: 0 };
    // Blocks of calls alternated one for one (the first of each pair swapping), so a busy moment
    // of the shared machine hits both sides; the figure is the median of the blocks' p50s.
    // The floor: the same calls through a process that only passes them on to the worker.
    const proxy = await startBaselineProxy(first.url);
    try {
      for (let i = 0; i < 20; i++) await invoke(proxy.url);
      const blocks: { d50: number; h50: number; p50: number; d99: number; h99: number; p99: number }[] = [];
      for (let block = 0; block < HOP_BLOCKS; block++) {
        const direct: number[] = [];
        const hop: number[] = [];
        const plain: number[] = [];
        const sides = [
          () => invoke(first.url).then((t) => direct.push(t)),
          () => invoke(gateway.url).then((t) => hop.push(t)),
          () => invoke(proxy.url).then((t) => plain.push(t)),
        ];
        // Each round calls every side once, the order rotating, so none always follows another.
        for (let i = 0; i < options.rounds; i++)
          for (let k = 0; k < sides.length; k++)
            await (sides[(i + k) % sides.length] as () => Promise<number>)();
        const b = {
          d50: percentile(direct, 50),
          h50: percentile(hop, 50),
          p50: percentile(plain, 50),
          d99: percentile(direct, 99),
          h99: percentile(hop, 99),
          p99: percentile(plain, 99),
        };
        blocks.push(b);
        log(
          `  hop block ${block + 1}: on the worker p50 ${ms(b.d50)} p99 ${ms(b.d99)}; through the gateway p50 ${ms(b.h50)} p99 ${ms(b.h99)} (added p50 ${ms(b.h50 - b.d50)}); through a plain proxy p50 ${ms(b.p50)} p99 ${ms(b.p99)} (added p50 ${ms(b.p50 - b.d50)})`,
        );
      }
      const med = (pick: (b: (typeof blocks)[number]) => number) => percentile(blocks.map(pick), 50);
      hopFigures = {
        d50: med((b) => b.d50),
        h50: med((b) => b.h50),
        d99: med((b) => b.d99),
        h99: med((b) => b.h99),
        added: med((b) => b.h50 - b.d50),
        floor: med((b) => b.p50 - b.d50),
      };
    } finally {
      await proxy.stop();
    }
    const { d50, h50, d99, h99, added, floor } = hopFigures;
    log(`  warm node invoke on the worker: p50 ${ms(d50)}, p99 ${ms(d99)} (medians of ${HOP_BLOCKS} blocks)`);
    log(`  the same through the gateway:   p50 ${ms(h50)}, p99 ${ms(h99)} (added p50 ${ms(added)})`);
    log(`  a plain pass-through process adds p50 ${ms(floor)}: the machine's floor for any extra hop now`);
    metrics.push({
      section: SECTION,
      metric: 'warm container invoke p50 added by gateway → worker',
      unit: 'ms',
      faas: h50,
      baseline: d50,
      ratio: added,
      target: { op: '<=', value: 1, of: 'ratio' },
      note: `a plain node:http pass-through process added ${ms(floor)} p50 in the same blocks`,
    });

    await deploy({
      name: 'sleeper',
      runtime: 'node',
      maxConcurrency: 100,
      code: `export default async (e) => { await new Promise((r) => setTimeout(r, ${JOB_MS})); return e.n; }`,
    });
    const cap = (workers: number) => (workers * WORKER_SLOTS + GATEWAY_SLOTS) * (1000 / JOB_MS);
    log(
      `  async: jobs of ${JOB_MS} ms; each worker runs ${WORKER_SLOTS} at once (FAAS_QUEUE_CONCURRENCY), the gateway ${GATEWAY_SLOTS} (on a worker): at most ${cap(1)} jobs/s with one worker, ${cap(2)} with two (ratio at most ${(cap(2) / cap(1)).toFixed(2)})`,
    );
    const batch = async (label: string, workers: number): Promise<number> => {
      const cpu = cpuTimes();
      const t = performance.now();
      // Enqueued 32 at a time, faster than one worker drains them: the queue, not the client, waits.
      for (let from = 0; from < options.asyncCount; from += 32) {
        await Promise.all(
          Array.from({ length: Math.min(32, options.asyncCount - from) }, async (_, i) => {
            const res = await call(gateway.url, '/api/v1/functions/sleeper/invoke?async=true', {
              method: 'POST',
              body: JSON.stringify({ n: from + i }),
            });
            if (res.status !== 202) throw new Error(`enqueue: ${res.status} ${await res.text()}`);
          }),
        );
      }
      const enqueued = performance.now() - t;
      for (;;) {
        const q = (await (await call(gateway.url, '/api/v1/queue')).json()) as Record<string, number>;
        if ((q.depth ?? 0) + (q.running ?? 0) + (q.delayed ?? 0) === 0) break;
        await sleep(20);
      }
      const perS = options.asyncCount / ((performance.now() - t) / 1000);
      log(
        `  async ${label}: ${options.asyncCount} jobs (enqueued in ${ms(enqueued)}), ${perS.toFixed(1)} jobs/s, ${((100 * perS) / cap(workers)).toFixed(0)}% of the slots' cap; the machine's CPUs ${cpuBusyPercent(cpu).toFixed(0)}% busy`,
      );
      return perS;
    };
    // The warm-ups start each worker's containers, so the measured batches run on warm ones.
    await batch('warm-up, one worker', 1);
    const one = await batch('one worker', 1);
    await cluster.start('worker', workerSettings);
    await batch('warm-up, two workers', 2);
    const two = await batch('two workers', 2);
    log(`  two workers / one: ${(two / one).toFixed(2)}x`);
    metrics.push({
      section: SECTION,
      metric: 'async throughput, two workers vs one',
      unit: 'req/s',
      faas: two,
      baseline: one,
      ratio: two / one,
      target: { op: '>=', value: 1.6, of: 'ratio' },
      note: `jobs of ${JOB_MS} ms; ${WORKER_SLOTS} slots per worker plus the gateway's ${GATEWAY_SLOTS}: ${(cap(2) / cap(1)).toFixed(2)}x is the most this setup can show`,
    });

    // Last: a second gateway would consume async jobs too and change the figures above.
    const other = await cluster.start('gateway', gatewaySettings);
    metrics.push(...(await changePropagation(gateway.url, other.url, call, log)));
  } finally {
    await cluster.close();
  }
  return metrics;
}

/** Busy and total CPU time of the machine (every process: other engineers' runs too). */
function cpuTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const { times } of cpus()) {
    const all = times.user + times.nice + times.sys + times.irq + times.idle;
    total += all;
    busy += all - times.idle;
  }
  return { busy, total };
}

function cpuBusyPercent(since: { busy: number; total: number }): number {
  const now = cpuTimes();
  return (100 * (now.busy - since.busy)) / Math.max(1, now.total - since.total);
}

function placementTime(log: (line: string) => void): Metric[] {
  const out: Metric[] = [];
  // The last: 1,000 calls ended since each worker's heartbeat, as a second at 10,000 calls/s leaves.
  for (const [count, ended] of [
    [2, 0],
    [10, 0],
    [100, 0],
    [10, 1_000],
  ] as const) {
    // As the gateway's directory holds them: parsed when read from the registry, not per decision.
    const records: ClusterNodeRecord[] = Array.from({ length: count }, (_, i) => ({
      id: `node_${i}`,
      role: 'worker',
      url: `http://10.0.0.${i}:8080`,
      capacity: { cpus: 4, memoryMb: 8192 },
      load: { cpu: 0, memory: 0, io: 0, score: (i * 37) % 100 },
      running: i % 5,
      warm: Array.from({ length: 20 }, (_, k) => `fn${(i + k) % 200}:1`),
      idle: Object.fromEntries(Array.from({ length: 10 }, (_, k) => [`fn${(i + 2 * k) % 200}:1`, 1])),
      startedAt: '2026-12-06T00:00:00.000Z',
      heartbeatAt: '2026-12-06T00:00:00.000Z',
    }));
    const nodes = records.map(toDirectoryNode);
    // The gateway's own calls in flight: three per worker, as under load.
    const inFlight = new InFlightCalls();
    for (let i = 0; i < count * 3; i++) inFlight.start(`node_${i % count}`, `fn${i % 250}:1`);
    for (let i = 0; i < count * ended; i++) inFlight.start(`node_${i % count}`, `fn${i % 250}:1`)();
    const what = `${count} workers${ended ? `, ${ended} calls each ended since its heartbeat` : ''}`;
    const n = 200_000;
    let sink = 0;
    // Compiled first: the first count measured would otherwise pay for the JIT's warm-up.
    for (let i = 0; i < 20_000; i++)
      sink += pickWorker(nodes, `fn${i % 250}:1`, undefined, inFlight.unseen)?.running ?? 0;
    const t = performance.now();
    for (let i = 0; i < n; i++)
      sink += pickWorker(nodes, `fn${i % 250}:1`, undefined, inFlight.unseen)?.running ?? 0;
    const perCallUs = ((performance.now() - t) * 1000) / n;
    log(`  placement over ${what}: ${perCallUs.toFixed(2)} µs per decision${sink < 0 ? '' : ''}`);
    out.push({
      section: SECTION,
      metric: `placement decision, ${what} (µs)`,
      unit: 'count',
      faas: perCallUs,
    });
  }
  return out;
}

/**
 * A change made through gateway A, then gateway B polled (every 2 ms) until it shows: a new
 * version of a js function (B's catalog and route table, on PostgreSQL's NOTIFY) and an API key
 * revoked (B's key cache). The median of 9 of each.
 */
async function changePropagation(
  a: string,
  b: string,
  call: (base: string, path: string, init?: RequestInit) => Promise<Response>,
  log: (line: string) => void,
): Promise<Metric[]> {
  const until = async (what: string, seen: () => Promise<boolean>): Promise<number> => {
    const t = performance.now();
    while (!(await seen())) {
      if (performance.now() - t > 30_000) throw new Error(`${what} never reached the other gateway`);
      await sleep(2);
    }
    return performance.now() - t;
  };
  const invokeOn = async (base: string, key?: string) => {
    const res = await call(base, '/api/v1/functions/propagate/invoke', {
      method: 'POST',
      body: '{}',
      ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}),
    });
    return { status: res.status, text: await res.text() };
  };
  const put = (n: number) =>
    call(a, '/api/v1/functions/propagate', {
      method: 'PUT',
      body: JSON.stringify({ runtime: 'js', code: `export default () => ${n}` }),
    });
  await put(0);
  await until('the first deploy', async () => (await invokeOn(b)).text === '0');
  const versions: number[] = [];
  const revocations: number[] = [];
  for (let i = 1; i <= 9; i++) {
    const res = await put(i);
    if (res.status !== 200) throw new Error(`new version: ${res.status} ${await res.text()}`);
    versions.push(await until('a new version', async () => (await invokeOn(b)).text === String(i)));

    const made = await call(a, '/api/v1/keys', {
      method: 'POST',
      body: JSON.stringify({ name: `p${i}`, role: 'admin' }),
    });
    const { id, key } = (await made.json()) as { id: string; key: string };
    if ((await invokeOn(b, key)).status !== 200)
      throw new Error('a new key does not work on the other gateway');
    await call(a, `/api/v1/keys/${id}`, { method: 'DELETE' });
    revocations.push(await until('a revocation', async () => (await invokeOn(b, key)).status === 401));
  }
  const out: Metric[] = [];
  for (const [what, delays] of [
    ['a new version', versions],
    ['an API key revoked', revocations],
  ] as const) {
    const median = percentile([...delays], 50);
    log(`  change propagation, ${what}, gateway A → B: median ${ms(median)}, max ${ms(Math.max(...delays))}`);
    out.push({
      section: SECTION,
      metric: `change propagation: ${what}, gateway → gateway (median of 9)`,
      unit: 'ms',
      faas: median,
      target: { op: '<=', value: 1000, of: 'faas' },
    });
  }
  return out;
}
