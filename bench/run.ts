// `npm run bench`: the faas server and a plain node:http baseline as separate processes, measured
// with the same load generator on loopback. Prints each section, then a summary table, and writes
// the same rows to bench/results/latest.json. Bounded: about 8 minutes on 2 cores (section 8, the
// density sweep, is half of it).
// Env: BENCH_DURATION (s per measurement, default 6), BENCH_LOADGEN=node (skip wrk),
// BENCH_NO_INSTALL=1 (never apt-get wrk), BENCH_SKIP_CONTAINER=1, BENCH_ONLY=1,4 (those sections),
// BENCH_DATABASE_URL (the PostgreSQL server of section 5; default FAAS_TEST_DATABASE_URL).
// BENCH_REDIS_URL (the Redis of section 6; default FAAS_TEST_REDIS_URL), BENCH_ASYNC_COUNT (10000),
// BENCH_S3_ENDPOINT (the S3 of section 7; default FAAS_TEST_S3_ENDPOINT, else a private s3rver),
// BENCH_DENSITY_COUNTS (functions deployed in section 8; default 1,100,1000,10000).
// BENCH_BEFORE_REF (section 9: section 1 on this tree and on that commit, alternately; off when
// unset), BENCH_AFTER_REF (another commit in place of this tree), BENCH_BEFORE_MAX_COST (its
// target, percent of throughput; default 5).
// BENCH_RUNTIME_COLD / BENCH_RUNTIME_WARM (invokes per runtime in section 10; default 5 / 200).
// BENCH_CLUSTER_ROUNDS / BENCH_CLUSTER_ASYNC (section 11: hop calls each way per block (3 blocks), default 300; async
// jobs per batch, default 300; it needs FAAS_TEST_DATABASE_URL and FAAS_TEST_REDIS_URL).
import { cpus, hostname } from 'node:os';
import { measureAsyncQueues } from './async-queue.ts';
import { measureBeforeAfter } from './before-after.ts';
import { measureBlobCache } from './blob-cache.ts';
import { measureCluster } from './cluster.ts';
import { measureColdStart } from './cold-start.ts';
import { dockerAnswers, measureContainer } from './container.ts';
import { measureDensity } from './density.ts';
import { measureInstances } from './instances.ts';
import { pickLoadRunner } from './lib/load.ts';
import { startFaasServer } from './lib/processes.ts';
import { type Metric, summaryTable, verdict, writeJson } from './lib/report.ts';
import { measureRuntimeLatency } from './runtime-latency.ts';
import { benchDatabaseUrl, measureStoreCompare } from './store-compare.ts';
import { measureTracingCompare } from './tracing-compare.ts';
import { measureWarmInvoke } from './warm-invoke.ts';

const log = (line: string) => console.log(line);
const durationS = Number(process.env.BENCH_DURATION ?? 6);
const warmupS = 2;
const notes: string[] = [];
const metrics: Metric[] = [];
const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
const runs = (section: string) => !only || only.includes(section);

/** A failing section is reported in the summary; the others still run. */
async function section(title: string, measure: () => Promise<Metric[]>): Promise<void> {
  log(`\n${title}`);
  try {
    metrics.push(...(await measure()));
  } catch (error) {
    const note = `${title} failed: ${error instanceof Error ? error.message : String(error)}`;
    log(`  ${note}`);
    notes.push(note);
    process.exitCode = 1;
  }
}

const load = pickLoadRunner(log);
log(
  `faas bench — node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model ?? '?'}), load generator: ${load.name}`,
);
const started = performance.now();
const server = await startFaasServer();
try {
  if (runs('1')) {
    // Errors here abort the bench: the gateway's own path is broken.
    log(`\n1. warm sync invoke, js (${durationS} s per measurement after ${warmupS} s warm-up)`);
    metrics.push(...(await measureWarmInvoke({ server, load: load.run, durationS, warmupS, log })));
  }
  if (runs('1b'))
    await section('1b. warm sync invoke, js: tracing off vs on (every trace exported)', () =>
      measureTracingCompare({ load: load.run, durationS, warmupS, log }),
    );
  if (runs('2')) {
    log('\n2. isolate cold start: first invoke after deploy');
    metrics.push(...(await measureColdStart(server, 50, log)));
  }
  if (runs('3'))
    await section('3. container runtime', async () => {
      const container = await measureContainer({ server, load: load.run, durationS, warmupS, log });
      notes.push(...container.notes);
      return container.metrics;
    });
  if (runs('4') && dockerAnswers())
    await section('4. instances and snapshots (gVisor)', () => measureInstances(server, load.run, log));
  if (runs('5')) {
    const databaseUrl = benchDatabaseUrl();
    if (databaseUrl)
      await section('5. warm js invoke c=32: embedded vs PostgreSQL store', () =>
        measureStoreCompare({ embedded: server, databaseUrl, load: load.run, durationS, warmupS, log }),
      );
    else notes.push('5. store comparison skipped: set BENCH_DATABASE_URL (or FAAS_TEST_DATABASE_URL)');
  }
} finally {
  await server.stop();
}
// Its own servers, one per queue, after the shared one has stopped.
if (runs('6'))
  await section('6. async throughput: enqueue to completion, SQLite queue vs Redis queue', () =>
    measureAsyncQueues({
      count: Number(process.env.BENCH_ASYNC_COUNT ?? 10_000),
      redisUrl: process.env.BENCH_REDIS_URL || process.env.FAAS_TEST_REDIS_URL || undefined,
      log,
    }),
  );
if (runs('7'))
  await section('7. code blob: cold fetch from S3 vs local cache hit', () => measureBlobCache(log));
if (runs('8'))
  await section('8. isolate density: many functions, invoked at random, c=32', () =>
    measureDensity({
      counts: (process.env.BENCH_DENSITY_COUNTS ?? '1,100,1000,10000').split(',').map(Number),
      load: load.run,
      durationS,
      warmupS,
      log,
    }),
  );
const beforeRef = process.env.BENCH_BEFORE_REF;
if (runs('9') && beforeRef)
  await section(`9. warm js invoke c=32: ${process.env.BENCH_AFTER_REF ?? 'this tree'} vs ${beforeRef}`, () =>
    measureBeforeAfter({
      ref: beforeRef,
      ...(process.env.BENCH_AFTER_REF ? { afterRef: process.env.BENCH_AFTER_REF } : {}),
      maxCostPercent: Number(process.env.BENCH_BEFORE_MAX_COST ?? 5),
      load: load.run,
      durationS,
      warmupS,
      rounds: 4,
      log,
    }),
  );
if (runs('10'))
  await section(
    '10. runtime latency: cold and warm invoke of node, python, go, wasm and js, side by side',
    async () => {
      const latency = await measureRuntimeLatency({
        coldCount: Number(process.env.BENCH_RUNTIME_COLD ?? 5),
        warmCount: Number(process.env.BENCH_RUNTIME_WARM ?? 200),
        withContainers: dockerAnswers(),
        log,
      });
      notes.push(...latency.notes);
      return latency.metrics;
    },
  );

if (runs('11')) {
  if (process.env.FAAS_TEST_DATABASE_URL && process.env.FAAS_TEST_REDIS_URL)
    await section(
      '11. cluster: gateway → worker hop, async with one and two workers, placement, change propagation',
      () =>
        measureCluster({
          rounds: Number(process.env.BENCH_CLUSTER_ROUNDS ?? 300),
          asyncCount: Number(process.env.BENCH_CLUSTER_ASYNC ?? 300),
          log,
        }),
    );
  else notes.push('11. cluster skipped: set FAAS_TEST_DATABASE_URL and FAAS_TEST_REDIS_URL');
}

log('\nsummary');
log(summaryTable(metrics));
for (const note of notes) log(`note: ${note}`);
const elapsedS = (performance.now() - started) / 1000;
log(`\n(${elapsedS.toFixed(0)} s)`);

const out = new URL('./results/latest.json', import.meta.url).pathname;
writeJson(out, {
  date: new Date().toISOString(),
  machine: { hostname: hostname(), cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version },
  loadGenerator: load.name,
  durationS,
  elapsedS,
  metrics: metrics.map((m) => ({ ...m, result: verdict(m) })),
  notes,
});
log(`wrote ${out}`);
