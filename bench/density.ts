// Section 8: many deployed functions on one server. For each count, a fresh server gets that many
// small js functions (distinct code each, so nothing compiled can be shared), each is called once
// (the first calls, timed: the cold path), then the server is invoked at 32
// connections with each request's function picked uniformly at random (and, at the largest count,
// Zipf-like: a few hot, many cold). Side by side in the same run: a plain node:http server and a
// node:cluster of as many plain processes as the server has gateway threads, answering any path.
import { availableParallelism } from 'node:os';
import { api } from './lib/faas-api.ts';
import type { LoadRunner } from './lib/load.ts';
import type { LoadResult, LoadSpread, LoadTarget } from './lib/load-result.ts';
import {
  type FaasServer,
  startBaselineCluster,
  startBaselineServer,
  startFaasServer,
  treeMemoryMb,
} from './lib/processes.ts';
import type { Metric } from './lib/report.ts';
import { ms, rps } from './lib/stats.ts';

export interface DensityOptions {
  counts: number[];
  load: LoadRunner;
  durationS: number;
  warmupS: number;
  log: (line: string) => void;
}

const EVENT = JSON.stringify({ n: 1 });
const SECTION = 'isolate density';
/** The gateway's default: one thread per core, at most 4 (FAAS_GATEWAY_THREADS=0). */
const GATEWAY_THREADS = Math.min(availableParallelism(), 4);
/** Alternations for the one-function tail comparison; its figures are their medians. */
const ALTERNATIONS = 3;

const codeOf = (i: number) => `export default (e) => ({ ok: true, n: e.n, id: ${i} })`;
const describe = (r: LoadResult) =>
  `${rps(r.requestsPerSec)}  p50 ${ms(r.p50Ms)}  p99 ${ms(r.p99Ms)}${r.errors ? `  ERRORS ${r.errors}` : ''}`;
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

/** Deploys `fn-{from..to-1}` with `clients` concurrent sequential clients; resolves to seconds taken. */
async function deployRange(server: FaasServer, from: number, to: number, clients: number): Promise<number> {
  const started = performance.now();
  let next = from;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < to) {
        const i = next++;
        await (
          await api(server, 'POST', '/api/v1/functions', { name: `fn-${i}`, runtime: 'js', code: codeOf(i) })
        ).arrayBuffer();
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

/**
 * Calls each of `fn-0..count-1` once, from 32 concurrent clients: every call a first call (the
 * cold path), and afterwards each function loaded, as on a server that has run a while.
 * Resolves to seconds taken.
 */
async function callEachOnce(server: FaasServer, count: number): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < count) {
        const i = next++;
        await (await api(server, 'POST', `/api/v1/functions/fn-${i}/invoke`, { n: 1 }, [200])).arrayBuffer();
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

function targetOf(url: string, adminKey: string, spread: LoadSpread): LoadTarget {
  return {
    url: `${url}/api/v1/functions/fn-{i}/invoke`,
    body: EVENT,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${adminKey}` },
    spread,
  };
}

interface Row {
  faas: LoadResult;
  plain: LoadResult;
  cluster: LoadResult;
}

/** Plain, cluster, faas, `rounds` times in turn; each figure is the median over its rounds. */
function alternate(
  opts: DensityOptions,
  targets: { faas: LoadTarget; plain: LoadTarget; cluster: LoadTarget },
  rounds: number,
): Row {
  const runs: Row[] = [];
  for (let round = 0; round < rounds; round++) {
    const plain = opts.load(targets.plain, 32, opts.durationS);
    const cluster = opts.load(targets.cluster, 32, opts.durationS);
    const faas = opts.load(targets.faas, 32, opts.durationS);
    runs.push({ faas, plain, cluster });
  }
  const pick = (side: keyof Row): LoadResult => {
    const all = runs.map((run) => run[side]);
    return {
      ...(all[0] as LoadResult),
      requests: all.reduce((sum, r) => sum + r.requests, 0),
      errors: all.reduce((sum, r) => sum + r.errors, 0),
      requestsPerSec: median(all.map((r) => r.requestsPerSec)),
      p50Ms: median(all.map((r) => r.p50Ms)),
      p99Ms: median(all.map((r) => r.p99Ms)),
    };
  };
  return { faas: pick('faas'), plain: pick('plain'), cluster: pick('cluster') };
}

export async function measureDensity(opts: DensityOptions): Promise<Metric[]> {
  const { counts, load, warmupS, log } = opts;
  const metrics: Metric[] = [];
  const plain = await startBaselineServer();
  const cluster = await startBaselineCluster(GATEWAY_THREADS);
  let oneFunction: number | undefined;
  try {
    for (const count of counts) {
      const server = await startFaasServer();
      try {
        // Sequential up to 1,000 (the deploy figure is for one client); beyond, four clients.
        const sequential = Math.min(count, 1_000);
        const deploySeconds = await deployRange(server, 0, sequential, 1);
        if (count > sequential) await deployRange(server, sequential, count, 4);
        log(`  ${count} functions: ${sequential} sequential deploys in ${deploySeconds.toFixed(2)} s`);
        if (count === 1_000)
          metrics.push({
            section: SECTION,
            metric: '1,000 sequential deploys',
            unit: 's',
            faas: deploySeconds,
            target: { op: '<=', value: 10, of: 'faas' },
          });
        const firstSeconds = await callEachOnce(server, count);
        log(
          `  first call of each function (32 clients): ${(count / firstSeconds).toFixed(0)}/s, ${firstSeconds.toFixed(2)} s in all`,
        );
        const spreads: LoadSpread[] = [{ count, distribution: 'uniform' }];
        if (count === Math.max(...counts) && count > 1) spreads.push({ count, distribution: 'zipf' });
        for (const spread of spreads) {
          const targets = {
            faas: targetOf(server.url, server.adminKey, spread),
            plain: targetOf(plain.url, server.adminKey, spread),
            cluster: targetOf(cluster.url, server.adminKey, spread),
          };
          load(targets.faas, 32, warmupS);
          // Every row the median of three: the first seconds after the first calls are the
          // slowest of a many-function run (each context's code is still cold), and one sample
          // of them made the 1,000-against-1 ratio swing 0.40-0.64 between runs.
          const row = alternate(opts, targets, ALTERNATIONS);
          const memory = treeMemoryMb(server.pid);
          const label = `${count} fns ${spread.distribution}`;
          log(`    plain   ${label}: ${describe(row.plain)}`);
          log(`    cluster ${label}: ${describe(row.cluster)}`);
          log(
            `    faas    ${label}: ${describe(row.faas)}  server resident ${memory.resident.toFixed(0)} MB (VmRSS added up ${memory.rss.toFixed(0)} MB)`,
          );
          metrics.push(...rowMetrics(label, row, memory, count));
          if (count === 1) oneFunction = row.faas.requestsPerSec;
          if (count === 1_000 && oneFunction !== undefined)
            metrics.push({
              section: SECTION,
              metric: '1000 fns vs 1 fn throughput',
              unit: 'ratio',
              faas: row.faas.requestsPerSec,
              baseline: oneFunction,
              ratio: row.faas.requestsPerSec / oneFunction,
              target: { op: '>=', value: 0.5, of: 'ratio' },
            });
        }
      } finally {
        await server.stop();
      }
    }
  } finally {
    await Promise.all([plain.stop(), cluster.stop()]);
  }
  return metrics;
}

function rowMetrics(
  label: string,
  row: Row,
  memory: { rss: number; resident: number },
  count: number,
): Metric[] {
  const rows: Metric[] = [
    {
      section: SECTION,
      metric: `${label} throughput vs plain node`,
      unit: 'req/s',
      faas: row.faas.requestsPerSec,
      baseline: row.plain.requestsPerSec,
      ratio: row.faas.requestsPerSec / row.plain.requestsPerSec,
      ...(count === 1 ? { target: { op: '>=' as const, value: 0.6, of: 'ratio' as const } } : {}),
    },
    {
      section: SECTION,
      metric: `${label} throughput vs ${GATEWAY_THREADS}-process cluster`,
      unit: 'req/s',
      faas: row.faas.requestsPerSec,
      baseline: row.cluster.requestsPerSec,
      ratio: row.faas.requestsPerSec / row.cluster.requestsPerSec,
    },
    { section: SECTION, metric: `${label} p50`, unit: 'ms', faas: row.faas.p50Ms, baseline: row.plain.p50Ms },
    {
      section: SECTION,
      metric: `${label} p99 (median of ${ALTERNATIONS})`,
      unit: 'ms',
      faas: row.faas.p99Ms,
      baseline: row.plain.p99Ms,
      ratio: row.faas.p99Ms / row.plain.p99Ms,
      ...(count === 1 ? { target: { op: '<=' as const, value: 3, of: 'ratio' as const } } : {}),
    },
    {
      section: SECTION,
      metric: `${label} server resident memory`,
      unit: 'MB',
      faas: memory.resident,
      note: `VmRSS of its processes added up: ${memory.rss.toFixed(0)} MB (each counts node's binary again)`,
      ...(count === 1_000 ? { target: { op: '<=' as const, value: 1024, of: 'faas' as const } } : {}),
    },
    {
      section: SECTION,
      metric: `${label} errors`,
      unit: 'count',
      faas: row.faas.errors,
      target: { op: '<=', value: 0, of: 'faas' },
    },
  ];
  return rows;
}
