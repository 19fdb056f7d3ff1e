// Section 5: warm sync invoke of a small JS function at 32 connections, the same server on the
// embedded SQLite store and on the PostgreSQL store, side by side in one run (issue 13's target:
// PostgreSQL at 0.8 or more of embedded). The invocation records are batched off the request's
// path on both, so the difference is what the store costs the hot path.
import { createTestDatabase } from '@faas/testkit';
import { deploy } from './lib/faas-api.ts';
import type { LoadRunner } from './lib/load.ts';
import type { LoadResult, LoadTarget } from './lib/load-result.ts';
import { type FaasServer, startFaasServer } from './lib/processes.ts';
import type { Metric } from './lib/report.ts';
import { ms, rps } from './lib/stats.ts';

const CODE = 'export default (e) => ({ ok: true, n: e.n })';
const EVENT = JSON.stringify({ n: 1 });
const CONNECTIONS = 32;
/** Measurements of each, alternating, so a busy moment of the shared machine hits both alike. */
const ROUNDS = 2;

/** The PostgreSQL server the bench makes its database on: BENCH_DATABASE_URL, else the tests'. */
export function benchDatabaseUrl(): string | undefined {
  return process.env.BENCH_DATABASE_URL ?? process.env.FAAS_TEST_DATABASE_URL;
}

export interface StoreCompareOptions {
  /** The embedded server, already running (section 1's). */
  embedded: FaasServer;
  databaseUrl: string;
  load: LoadRunner;
  durationS: number;
  warmupS: number;
  log: (line: string) => void;
}

const describe = (r: LoadResult) =>
  `${rps(r.requestsPerSec)}  p50 ${ms(r.p50Ms)}  p99 ${ms(r.p99Ms)}${r.errors ? `  ERRORS ${r.errors}` : ''}`;

function target(server: FaasServer): LoadTarget {
  return {
    url: `${server.url}/api/v1/functions/bench-store/invoke`,
    body: EVENT,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${server.adminKey}` },
  };
}

/** Several measurements as one: their mean throughput, their worst percentiles. */
function combine(results: LoadResult[]): LoadResult {
  const first = results[0] as LoadResult;
  return {
    ...first,
    requestsPerSec: results.reduce((s, r) => s + r.requestsPerSec, 0) / results.length,
    p50Ms: Math.max(...results.map((r) => r.p50Ms)),
    p99Ms: Math.max(...results.map((r) => r.p99Ms)),
    requests: results.reduce((s, r) => s + r.requests, 0),
    errors: results.reduce((s, r) => s + r.errors, 0),
  };
}

export async function measureStoreCompare(opts: StoreCompareOptions): Promise<Metric[]> {
  const { embedded, load, durationS, warmupS, log } = opts;
  const db = await createTestDatabase(opts.databaseUrl);
  try {
    const postgres = await startFaasServer({ FAAS_DATABASE_URL: db.url });
    try {
      await deploy(embedded, { name: 'bench-store', runtime: 'js', code: CODE });
      await deploy(postgres, { name: 'bench-store', runtime: 'js', code: CODE });
      const servers = { embedded, postgres };
      const results: Record<keyof typeof servers, LoadResult[]> = { embedded: [], postgres: [] };
      for (let round = 0; round < ROUNDS; round++) {
        for (const name of ['embedded', 'postgres'] as const) {
          load(target(servers[name]), CONNECTIONS, warmupS);
          const r = load(target(servers[name]), CONNECTIONS, durationS);
          log(`  ${name.padEnd(9)} c=${CONNECTIONS}: ${describe(r)}`);
          if (r.errors > 0) {
            const ready = await fetch(`${servers[name].url}/ready`).then((res) => res.text(), String);
            throw new Error(
              `the ${name} server answered ${r.errors} requests with errors; /ready: ${ready}; its output:\n${servers[name].output()}`,
            );
          }
          results[name].push(r);
        }
      }
      const e = combine(results.embedded);
      const p = combine(results.postgres);
      const ratio = p.requestsPerSec / e.requestsPerSec;
      log(`  PostgreSQL / embedded throughput: ${ratio.toFixed(2)}`);
      const section = 'store: embedded vs PostgreSQL';
      return [
        {
          section,
          metric: `js warm c=${CONNECTIONS} throughput, PostgreSQL store (baseline: embedded)`,
          unit: 'req/s',
          faas: p.requestsPerSec,
          baseline: e.requestsPerSec,
          ratio,
          target: { op: '>=', value: 0.8, of: 'ratio' },
        },
        {
          section,
          metric: `js warm c=${CONNECTIONS} p50, PostgreSQL store (baseline: embedded)`,
          unit: 'ms',
          faas: p.p50Ms,
          baseline: e.p50Ms,
        },
        {
          section,
          metric: `js warm c=${CONNECTIONS} p99, PostgreSQL store (baseline: embedded)`,
          unit: 'ms',
          faas: p.p99Ms,
          baseline: e.p99Ms,
        },
      ];
    } finally {
      await postgres.stop();
    }
  } finally {
    await db.drop();
  }
}
