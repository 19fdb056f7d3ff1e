// Section 1b: section 1's warm sync invoke on two servers side by side in one run, one with
// tracing off (no OTLP endpoint) and one exporting every trace to a stand-in collector
// (OTEL_EXPORTER_OTLP_ENDPOINT, the default sampler: each request without a traceparent starts
// a sampled trace, 4 spans). Alternating, so a busy moment of the shared machine hits both alike;
// the traced / untraced throughput ratio says what recording and exporting spans costs.

import { combineResults, describeLoad, invokeTarget } from './lib/compare.ts';
import { deploy } from './lib/faas-api.ts';
import type { LoadRunner } from './lib/load.ts';
import type { LoadResult } from './lib/load-result.ts';
import { type FaasServer, type Spawned, startFaasServer, startOtlpSink } from './lib/processes.ts';
import type { Metric } from './lib/report.ts';

const CODE = 'export default (e) => ({ ok: true, n: e.n })';
const EVENT = JSON.stringify({ n: 1 });
const ROUNDS = 2;
/** Both off on the untraced server, whatever the bench's own environment says. */
const TRACING_OFF = { OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '' };

export interface TracingCompareOptions {
  load: LoadRunner;
  durationS: number;
  warmupS: number;
  log: (line: string) => void;
  /** Connection counts, as section 1's. */
  connections?: readonly number[];
}

const target = (server: FaasServer) => invokeTarget(server, 'bench-traced', EVENT);

async function spansTaken(sink: Spawned): Promise<number> {
  return ((await (await fetch(`${sink.url}/count`)).json()) as { spans: number }).spans;
}

export async function measureTracingCompare(opts: TracingCompareOptions): Promise<Metric[]> {
  const { load, durationS, warmupS, log } = opts;
  const sink = await startOtlpSink();
  const started: Spawned[] = [sink];
  try {
    const untraced = await startFaasServer(TRACING_OFF);
    started.push(untraced);
    const traced = await startFaasServer({ ...TRACING_OFF, OTEL_EXPORTER_OTLP_ENDPOINT: sink.url });
    started.push(traced);
    const servers = { untraced, traced };
    for (const server of Object.values(servers)) {
      await deploy(server, { name: 'bench-traced', runtime: 'js', code: CODE });
    }
    const metrics: Metric[] = [];
    for (const connections of opts.connections ?? [1, 32]) {
      const results: Record<keyof typeof servers, LoadResult[]> = { untraced: [], traced: [] };
      for (let round = 0; round < ROUNDS; round++) {
        for (const name of ['untraced', 'traced'] as const) {
          load(target(servers[name]), connections, warmupS);
          const r = load(target(servers[name]), connections, durationS);
          log(`  ${name.padEnd(9)} c=${connections}: ${describeLoad(r)}`);
          if (r.errors > 0) {
            throw new Error(
              `the ${name} server answered ${r.errors} requests with errors; its output:\n${servers[name].output()}`,
            );
          }
          results[name].push(r);
        }
      }
      const off = combineResults(results.untraced);
      const on = combineResults(results.traced);
      const ratio = on.requestsPerSec / off.requestsPerSec;
      log(`  traced / untraced throughput c=${connections}: ${ratio.toFixed(2)}`);
      const section = 'tracing: off vs exporting every trace';
      metrics.push(
        {
          section,
          metric: `js warm c=${connections} throughput, tracing on (baseline: off)`,
          unit: 'req/s',
          faas: on.requestsPerSec,
          baseline: off.requestsPerSec,
          ratio,
        },
        {
          section,
          metric: `js warm c=${connections} p99, tracing on (baseline: off)`,
          unit: 'ms',
          faas: on.p99Ms,
          baseline: off.p99Ms,
        },
      );
    }
    // The batches leave every second: stopping the traced server sends the rest first.
    await traced.stop();
    started.pop();
    const spans = await spansTaken(sink);
    log(`  spans the stand-in collector took: ${spans}`);
    if (spans === 0) throw new Error('the traced server exported no span: tracing was not on');
    return metrics;
  } finally {
    for (const process of started.reverse()) await process.stop();
  }
}
