// Section 3: the container runtime through the gateway, when a Docker Engine answers: warm invoke
// of a node function at 1 and 32 connections, the deploy of a node function (a spare container
// takes the code and loads it before the deploy answers) and the first invoke after it. Then the
// execute API, when the server has it.
import { spawnSync } from 'node:child_process';
import { measureExecute } from './execute.ts';
import { api, deploy, remove, timedInvoke } from './lib/faas-api.ts';
import type { LoadRunner } from './lib/load.ts';
import type { LoadResult, LoadTarget } from './lib/load-result.ts';
import type { FaasServer } from './lib/processes.ts';
import type { Metric } from './lib/report.ts';
import { ms, percentile, rps, sleep } from './lib/stats.ts';

const CODE = 'export default async (e) => ({ ok: true })';
const FIRST_INVOKE_COUNT = 20;
// Spares refill one at a time in the background; each first invoke should find one ready, as it
// would for functions deployed seconds apart.
const SPARE_REFILL_MS = 1500;

export interface ContainerOptions {
  server: FaasServer;
  load: LoadRunner;
  durationS: number;
  warmupS: number;
  log: (line: string) => void;
}

export function dockerAnswers(): boolean {
  if (process.env.BENCH_SKIP_CONTAINER === '1') return false;
  const info = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], {
    stdio: 'ignore',
    timeout: 10_000,
  });
  return info.status === 0;
}

const describe = (r: LoadResult) =>
  `${rps(r.requestsPerSec)}  p50 ${ms(r.p50Ms)}  p99 ${ms(r.p99Ms)}${r.errors ? `  ERRORS ${r.errors}` : ''}`;

async function measureWarm(opts: ContainerOptions): Promise<Metric[]> {
  const { server, load, durationS, warmupS, log } = opts;
  const name = 'bench-ct-warm';
  await deploy(server, { name, runtime: 'node', code: CODE, handler: 'index.default', maxConcurrency: 32 });
  try {
    await timedInvoke(server, name, {});
    const target: LoadTarget = {
      url: `${server.url}/api/v1/functions/${name}/invoke`,
      body: '{}',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${server.adminKey}` },
    };
    const metrics: Metric[] = [];
    const section = 'container warm invoke';
    for (const connections of [1, 32]) {
      // At 32 connections the warm-up also grows the pool to its working size.
      load(target, connections, connections === 1 ? warmupS : warmupS * 3);
      const result = load(target, connections, durationS);
      log(`  node warm c=${connections}: ${describe(result)}`);
      metrics.push(
        {
          section,
          metric: `node warm c=${connections} throughput`,
          unit: 'req/s',
          faas: result.requestsPerSec,
          ...(connections === 32 ? { target: { op: '>=', value: 1500, of: 'faas' } as const } : {}),
          ...(result.errors ? { note: `${result.errors} errors` } : {}),
        },
        {
          section,
          metric: `node warm c=${connections} p50`,
          unit: 'ms',
          faas: result.p50Ms,
          ...(connections === 1 ? { target: { op: '<=', value: 2, of: 'faas' } as const } : {}),
        },
        { section, metric: `node warm c=${connections} p99`, unit: 'ms', faas: result.p99Ms },
      );
    }
    return metrics;
  } finally {
    await remove(server, name);
  }
}

async function measureFirstInvoke(opts: ContainerOptions): Promise<Metric[]> {
  const { server, log } = opts;
  const roundTrips: number[] = [];
  const serverSide: number[] = [];
  const deploys: number[] = [];
  for (let i = 0; i < FIRST_INVOKE_COUNT; i++) {
    const name = `bench-ct-first-${i}`;
    await sleep(SPARE_REFILL_MS);
    const deployStarted = performance.now();
    await deploy(server, {
      name,
      runtime: 'node',
      code: `export default async (e) => ({ ok: true, i: ${i} })`,
      handler: 'index.default',
    });
    deploys.push(performance.now() - deployStarted);
    const timed = await timedInvoke(server, name, {});
    roundTrips.push(timed.roundTripMs);
    serverSide.push(timed.serverMs);
    await remove(server, name);
  }
  log(
    `  node deploy, spare ready (${FIRST_INVOKE_COUNT} functions): p50 ${ms(percentile(deploys, 50))}  p99 ${ms(percentile(deploys, 99))}`,
  );
  log(
    `  node first invoke (${FIRST_INVOKE_COUNT} functions): p50 ${ms(percentile(roundTrips, 50))}  p99 ${ms(percentile(roundTrips, 99))}` +
      `  (X-Duration-Ms p50 ${ms(percentile(serverSide, 50))})`,
  );
  const section = 'container first invoke';
  return [
    {
      section,
      metric: `node deploy p50, spare ready (n=${FIRST_INVOKE_COUNT})`,
      unit: 'ms',
      faas: percentile(deploys, 50),
    },
    {
      section,
      metric: `node deploy p99 (n=${FIRST_INVOKE_COUNT})`,
      unit: 'ms',
      faas: percentile(deploys, 99),
    },
    {
      section,
      metric: `node first invoke p50 (n=${FIRST_INVOKE_COUNT})`,
      unit: 'ms',
      faas: percentile(roundTrips, 50),
      target: { op: '<=', value: 60, of: 'faas' },
    },
    {
      section,
      metric: `node first invoke p99 (n=${FIRST_INVOKE_COUNT})`,
      unit: 'ms',
      faas: percentile(roundTrips, 99),
    },
    { section, metric: 'node first invoke X-Duration-Ms p50', unit: 'ms', faas: percentile(serverSide, 50) },
  ];
}

export async function measureContainer(
  opts: ContainerOptions,
): Promise<{ metrics: Metric[]; notes: string[] }> {
  if (!dockerAnswers()) {
    const note =
      process.env.BENCH_SKIP_CONTAINER === '1'
        ? 'section 3 skipped: BENCH_SKIP_CONTAINER=1'
        : 'section 3 skipped: no Docker Engine answers `docker info` (see scripts/install-engine.sh)';
    opts.log(`  ${note}`);
    return { metrics: [], notes: [note] };
  }
  const ready = (await (await api(opts.server, 'GET', '/ready', undefined, [200, 503])).json()) as {
    checks?: Record<string, string>;
  };
  if (ready.checks?.container !== 'ok') {
    const note = `section 3 skipped: the server's container runtime is not ready (${ready.checks?.container ?? 'no check'})`;
    opts.log(`  ${note}`);
    return { metrics: [], notes: [note] };
  }
  const metrics = [...(await measureWarm(opts)), ...(await measureFirstInvoke(opts))];
  try {
    const execute = await measureExecute(opts.server, opts.log, opts.load);
    return { metrics: [...metrics, ...execute.metrics], notes: execute.notes };
  } catch (error) {
    const note = `execute failed: ${error instanceof Error ? error.message : String(error)}`;
    opts.log(`  ${note}`);
    process.exitCode = 1;
    return { metrics, notes: [note] };
  }
}
