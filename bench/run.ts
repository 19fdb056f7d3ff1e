// `npm run bench`: the faas server and a plain node:http baseline as separate processes, measured
// with the same load generator on loopback. Prints each section, then a summary table, and writes
// the same rows to bench/results/latest.json. Bounded: about 2–3 minutes on 2 cores.
// Env: BENCH_DURATION (s per measurement, default 6), BENCH_LOADGEN=node (skip wrk),
// BENCH_NO_INSTALL=1 (never apt-get wrk), BENCH_SKIP_CONTAINER=1.
import { cpus, hostname } from 'node:os';
import { measureColdStart } from './cold-start.ts';
import { measureContainer } from './container.ts';
import { pickLoadRunner } from './lib/load.ts';
import { startFaasServer } from './lib/processes.ts';
import { type Metric, summaryTable, verdict, writeJson } from './lib/report.ts';
import { measureWarmInvoke } from './warm-invoke.ts';

const log = (line: string) => console.log(line);
const durationS = Number(process.env.BENCH_DURATION ?? 6);
const warmupS = 2;
const notes: string[] = [];
const metrics: Metric[] = [];

const load = pickLoadRunner(log);
log(
  `faas bench — node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model ?? '?'}), load generator: ${load.name}`,
);
const started = performance.now();
const server = await startFaasServer();
try {
  log(`\n1. warm sync invoke, js (${durationS} s per measurement after ${warmupS} s warm-up)`);
  metrics.push(...(await measureWarmInvoke({ server, load: load.run, durationS, warmupS, log })));

  log('\n2. isolate cold start: first invoke after deploy');
  metrics.push(...(await measureColdStart(server, 50, log)));

  log('\n3. container runtime');
  try {
    const container = await measureContainer({ server, load: load.run, durationS, warmupS, log });
    metrics.push(...container.metrics);
    notes.push(...container.notes);
  } catch (error) {
    // Keep sections 1–2 when the engine misbehaves; the failure is in the summary, not hidden.
    const note = `section 3 failed: ${error instanceof Error ? error.message : String(error)}`;
    log(`  ${note}`);
    notes.push(note);
    process.exitCode = 1;
  }
} finally {
  await server.stop();
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
