// Section 3b: the execute API, when the server has it: an ephemeral `true` in the base image
// against `docker run --rm` of the same image, and a cached execute's hit latency.
import { execFileSync } from 'node:child_process';
import type { LoadRunner } from './lib/load.ts';
import type { FaasServer } from './lib/processes.ts';
import type { Metric } from './lib/report.ts';
import { ms, percentile } from './lib/stats.ts';

const EPHEMERAL_RUNS = 10;
const DOCKER_RUNS = 5;
const CACHED_HIT_SECONDS = 3;
const ADVANCED = '/api/v1/execute/advanced';

function checkExit(answer: Answer, what: string): void {
  if (answer.status !== 200 || (JSON.parse(answer.text) as { exit_code?: number }).exit_code !== 0) {
    throw new Error(`${what} → ${answer.status}: ${answer.text.slice(0, 500)}`);
  }
}

/** The newest `faas/base:*` image, or undefined when none was built. */
function baseImage(): string | undefined {
  const out = execFileSync('docker', ['images', 'faas/base', '--format', '{{.Repository}}:{{.Tag}}'], {
    encoding: 'utf8',
  });
  return out.split('\n').find((line) => line.trim() !== '');
}

interface Answer {
  status: number;
  ms: number;
  text: string;
}

async function execute(server: FaasServer, body: unknown, path = '/api/v1/execute'): Promise<Answer> {
  const started = performance.now();
  const res = await fetch(server.url + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, ms: performance.now() - started, text };
}

export async function measureExecute(
  server: FaasServer,
  log: (line: string) => void,
  load: LoadRunner,
): Promise<{ metrics: Metric[]; notes: string[] }> {
  const image = baseImage();
  if (!image)
    return { metrics: [], notes: ['execute skipped: no faas/base image (docker images faas/base)'] };
  const ephemeral = { image, command: ['true'] };
  const probe = await execute(server, ephemeral);
  if (probe.status === 404 || probe.status === 405 || probe.status === 501) {
    const note = `execute skipped: POST /api/v1/execute answered ${probe.status} (not implemented yet)`;
    log(`  ${note}`);
    return { metrics: [], notes: [note] };
  }
  if (probe.status !== 200) {
    const note = `execute skipped: POST /api/v1/execute ${JSON.stringify(ephemeral)} answered ${probe.status}: ${probe.text.slice(0, 300)}`;
    log(`  ${note}`);
    return { metrics: [], notes: [note] };
  }
  const runs: number[] = [];
  for (let i = 0; i < EPHEMERAL_RUNS; i++) {
    // Pool refill is background work; give it the time a caller between runs would.
    await new Promise((r) => setTimeout(r, 500));
    const result = await execute(server, ephemeral);
    checkExit(result, 'execute');
    runs.push(result.ms);
  }
  const dockerRuns: number[] = [];
  for (let i = 0; i < DOCKER_RUNS; i++) {
    const started = performance.now();
    execFileSync('docker', ['run', '--rm', '--network', 'none', image, 'true'], { stdio: 'ignore' });
    dockerRuns.push(performance.now() - started);
  }
  // A key of its own per run (the cache persists in the data dir), so the first call is a miss.
  const cachedBody = { image, command: ['true'], env: { BENCH_RUN: String(Date.now()) }, mode: 'cached' };
  const miss = await execute(server, cachedBody, ADVANCED);
  checkExit(miss, 'cached execute');
  const hit = await execute(server, cachedBody, ADVANCED);
  if ((JSON.parse(hit.text) as { cache?: string }).cache !== 'hit')
    throw new Error(`cached execute was not a hit: ${hit.text}`);
  // Every repeat of the same body is a hit; the load generator times them as it times invokes
  // (fetch's own client overhead, ~1-2 ms, would otherwise dominate).
  const hits = load(
    {
      url: server.url + ADVANCED,
      body: JSON.stringify(cachedBody),
      headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json' },
    },
    1,
    CACHED_HIT_SECONDS,
  );
  if (hits.errors > 0) throw new Error(`cached execute hits: ${hits.errors} non-2xx answers`);
  const ephemeralP50 = percentile(runs, 50);
  const dockerP50 = percentile(dockerRuns, 50);
  log(`  execute ephemeral true: p50 ${ms(ephemeralP50)}  p99 ${ms(percentile(runs, 99))}`);
  log(`  docker run --rm true:   p50 ${ms(dockerP50)}`);
  log(
    `  cached execute hit:     p50 ${ms(hits.p50Ms)}  p99 ${ms(hits.p99Ms)}  (${hits.generator}, 1 connection)`,
  );
  const section = 'execute';
  return {
    metrics: [
      {
        section,
        metric: 'execute ephemeral `true` p50 vs docker run --rm',
        unit: 'ms',
        faas: ephemeralP50,
        baseline: dockerP50,
        ratio: ephemeralP50 / dockerP50,
        target: { op: '<=', value: 0.35, of: 'ratio' },
      },
      {
        section,
        metric: 'execute cached hit p50',
        unit: 'ms',
        faas: hits.p50Ms,
        target: { op: '<=', value: 2, of: 'faas' },
      },
    ],
    notes: [],
  };
}
