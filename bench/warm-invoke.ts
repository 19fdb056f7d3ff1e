// Section 1: warm sync invoke of a small JS function through the gateway, side by side with a
// plain node:http server returning the same body, same generator, alternating targets.
import { deploy } from './lib/faas-api.ts';
import type { LoadRunner } from './lib/load.ts';
import type { LoadResult, LoadTarget } from './lib/load-result.ts';
import type { FaasServer } from './lib/processes.ts';
import { startBaselineServer } from './lib/processes.ts';
import type { Metric } from './lib/report.ts';
import { ms, rps } from './lib/stats.ts';

const CODE = 'export default (e) => ({ ok: true, n: e.n })';
const EVENT = JSON.stringify({ n: 1 });

export interface WarmOptions {
  server: FaasServer;
  load: LoadRunner;
  durationS: number;
  warmupS: number;
  log: (line: string) => void;
}

const describe = (r: LoadResult) =>
  `${rps(r.requestsPerSec)}  p50 ${ms(r.p50Ms)}  p99 ${ms(r.p99Ms)}${r.errors ? `  ERRORS ${r.errors}` : ''}`;

export async function measureWarmInvoke(opts: WarmOptions): Promise<Metric[]> {
  const { server, load, durationS, warmupS, log } = opts;
  await deploy(server, { name: 'bench-warm', runtime: 'js', code: CODE });
  const baseline = await startBaselineServer();
  try {
    const faasTarget: LoadTarget = {
      url: `${server.url}/api/v1/functions/bench-warm/invoke`,
      body: EVENT,
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${server.adminKey}` },
    };
    // The baseline gets the same headers, so both parse the same request.
    const baselineTarget: LoadTarget = {
      ...faasTarget,
      url: `${baseline.url}/api/v1/functions/bench-warm/invoke`,
    };
    const results: Record<string, { faas: LoadResult; baseline: LoadResult }> = {};
    for (const connections of [1, 32]) {
      load(baselineTarget, connections, warmupS);
      const base = load(baselineTarget, connections, durationS);
      log(`  baseline  c=${connections}: ${describe(base)}`);
      load(faasTarget, connections, warmupS);
      const faas = load(faasTarget, connections, durationS);
      log(`  faas      c=${connections}: ${describe(faas)}`);
      if (faas.errors > 0)
        throw new Error(`faas answered ${faas.errors} requests with errors at c=${connections}`);
      results[connections] = { faas, baseline: base };
    }
    const c1 = results[1] as { faas: LoadResult; baseline: LoadResult };
    const c32 = results[32] as { faas: LoadResult; baseline: LoadResult };
    const section = 'warm js invoke';
    return [
      {
        section,
        metric: 'js warm c=1 throughput',
        unit: 'req/s',
        faas: c1.faas.requestsPerSec,
        baseline: c1.baseline.requestsPerSec,
        ratio: c1.faas.requestsPerSec / c1.baseline.requestsPerSec,
      },
      { section, metric: 'js warm c=1 p50', unit: 'ms', faas: c1.faas.p50Ms, baseline: c1.baseline.p50Ms },
      { section, metric: 'js warm c=1 p99', unit: 'ms', faas: c1.faas.p99Ms, baseline: c1.baseline.p99Ms },
      {
        section,
        metric: 'js warm c=1 p50 added (faas − baseline)',
        unit: 'ms',
        faas: c1.faas.p50Ms - c1.baseline.p50Ms,
        target: { op: '<=', value: 0.5, of: 'faas' },
      },
      {
        section,
        metric: 'js warm c=32 throughput',
        unit: 'req/s',
        faas: c32.faas.requestsPerSec,
        baseline: c32.baseline.requestsPerSec,
        ratio: c32.faas.requestsPerSec / c32.baseline.requestsPerSec,
        target: { op: '>=', value: 0.6, of: 'ratio' },
      },
      { section, metric: 'js warm c=32 p50', unit: 'ms', faas: c32.faas.p50Ms, baseline: c32.baseline.p50Ms },
      { section, metric: 'js warm c=32 p99', unit: 'ms', faas: c32.faas.p99Ms, baseline: c32.baseline.p99Ms },
    ];
  } finally {
    await baseline.stop();
  }
}
