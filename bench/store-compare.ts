// Section 5: warm sync invoke of a small JS function at 32 connections, the same server on the
// embedded SQLite store and on the PostgreSQL store, side by side in one run (issue 13's target:
// PostgreSQL at 0.8 or more of embedded). The invocation records are batched off the request's
// path on both, so the difference is what the store costs the hot path.
import { createTestDatabase } from '@faas/testkit';
import { combineResults, describeLoad, invokeTarget } from './lib/compare.ts';
import { deploy } from './lib/faas-api.ts';
import type { LoadRunner } from './lib/load.ts';
import type { LoadResult } from './lib/load-result.ts';
import { type FaasServer, startFaasServer } from './lib/processes.ts';
import type { Metric } from './lib/report.ts';

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

const target = (server: FaasServer) => invokeTarget(server, 'bench-store', EVENT);

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
          log(`  ${name.padEnd(9)} c=${CONNECTIONS}: ${describeLoad(r)}`);
          if (r.errors > 0) {
            const ready = await fetch(`${servers[name].url}/ready`).then((res) => res.text(), String);
            throw new Error(
              `the ${name} server answered ${r.errors} requests with errors; /ready: ${ready}; its output:\n${servers[name].output()}`,
            );
          }
          results[name].push(r);
        }
      }
      const e = combineResults(results.embedded);
      const p = combineResults(results.postgres);
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
