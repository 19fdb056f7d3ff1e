// Side-by-side measurements for isolate density work (issue 12): this tree and an earlier commit
// (BENCH_BEFORE_REF, default main) as two servers in one run, alternating, so a busy moment of the
// shared machine hits both alike. Not part of `npm run bench`; run one measure at a time:
//   node bench/density-ab.ts deploys   1,000 sequential deploys (BENCH_DEPLOYS), batches of 100
//   node bench/density-ab.ts cold      p50 of a call whose isolate was evicted, over a warm call:
//                                      BENCH_FUNCTIONS (200) functions, FAAS_MAX_ISOLATES of
//                                      BENCH_MAX_ISOLATES (40) so most calls find theirs gone;
//                                      BENCH_GAP_MS (20) between calls: a server with idle moments,
//                                      as between most real requests (0: back to back)
//   node bench/density-ab.ts idle      this tree alone: RSS per idle warm function at 100, 1,000
import { setTimeout as sleep } from 'node:timers/promises';
import { checkOut } from './before-after.ts';
import { api, timedInvoke } from './lib/faas-api.ts';
import { type FaasServer, startFaasServer, treeMemoryMb } from './lib/processes.ts';

const codeOf = (i: number) => `export default (e) => ({ ok: true, n: e.n, id: ${i} })`;
const numberFrom = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

async function deployRange(server: FaasServer, from: number, to: number): Promise<number> {
  const started = performance.now();
  for (let i = from; i < to; i++) {
    await (
      await api(server, 'POST', '/api/v1/functions', { name: `fn-${i}`, runtime: 'js', code: codeOf(i) })
    ).arrayBuffer();
  }
  return (performance.now() - started) / 1000;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] ?? Number.NaN;

/** Both servers, the earlier tree's and this one's, with settings every version knows. */
async function pair(env: Record<string, string>): Promise<{
  servers: { before: FaasServer; after: FaasServer };
  label: string;
  stop: () => Promise<void>;
}> {
  const ref = process.env.BENCH_BEFORE_REF ?? 'main';
  const tree = checkOut(ref);
  const before = await startFaasServer(env, { root: tree.root, minimal: true });
  const after = await startFaasServer(env, { minimal: true });
  return {
    servers: { before, after },
    label: `before = ${ref} (${tree.commit.slice(0, 12)}), after = this tree`,
    stop: async () => {
      await Promise.all([before.stop(), after.stop()]);
      tree.remove();
    },
  };
}

async function deploys(): Promise<void> {
  const total = numberFrom('BENCH_DEPLOYS', 1000);
  const { servers, label, stop } = await pair({});
  const seconds = { before: 0, after: 0 };
  try {
    for (let from = 0; from < total; from += 100) {
      const order = (from / 100) % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const);
      for (const name of order)
        seconds[name] += await deployRange(servers[name], from, Math.min(total, from + 100));
    }
  } finally {
    await stop();
  }
  console.log(
    `${total} sequential deploys: before ${seconds.before.toFixed(2)} s, after ${seconds.after.toFixed(2)} s`,
  );
  console.log(label);
}

async function cold(): Promise<void> {
  const count = numberFrom('BENCH_FUNCTIONS', 200);
  const rounds = numberFrom('BENCH_ROUNDS', 3);
  const gapMs = numberFrom('BENCH_GAP_MS', 20);
  const { servers, label, stop } = await pair({
    FAAS_MAX_ISOLATES: String(numberFrom('BENCH_MAX_ISOLATES', 40)),
  });
  const samples = {
    before: { first: [] as number[], cold: [] as number[], warm: [] as number[] },
    after: { first: [] as number[], cold: [] as number[], warm: [] as number[] },
  };
  try {
    for (const server of Object.values(servers)) await deployRange(server, 0, count);
    for (let round = 0; round <= rounds; round++) {
      for (let i = 0; i < count; i++) {
        const order = i % 2 === 0 ? (['after', 'before'] as const) : (['before', 'after'] as const);
        for (const name of order) {
          const server = servers[name];
          const kind = round === 0 ? 'first' : 'cold';
          samples[name][kind].push((await timedInvoke(server, `fn-${i}`, { n: 1 })).roundTripMs);
          await sleep(gapMs);
          samples[name].warm.push((await timedInvoke(server, `fn-${i}`, { n: 2 })).roundTripMs);
          await sleep(gapMs);
        }
      }
    }
  } finally {
    await stop();
  }
  for (const name of ['before', 'after'] as const) {
    const s = samples[name];
    const warm = median(s.warm);
    console.log(
      `${name.padEnd(6)} p50: warm ${warm.toFixed(2)} ms; evicted, over warm ${(median(s.cold) - warm).toFixed(2)} ms; first call, over warm ${(median(s.first) - warm).toFixed(2)} ms`,
    );
  }
  console.log(`${label}; ${gapMs} ms between calls`);
}

async function idle(): Promise<void> {
  const server = await startFaasServer({}, { minimal: true });
  let deployed = 0;
  try {
    console.log(`idle server: ${treeMemoryMb(server.pid).resident.toFixed(0)} MB resident`);
    for (const count of [100, 1000]) {
      const from = deployed;
      await deployRange(server, from, count);
      deployed = count;
      const afterDeploy = treeMemoryMb(server.pid).resident;
      for (let i = from; i < count; i++) await timedInvoke(server, `fn-${i}`, { n: 1 });
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const warm = treeMemoryMb(server.pid).resident;
      const perFunctionKb = ((warm - afterDeploy) * 1024) / (count - from);
      console.log(
        `${count} functions: ${afterDeploy.toFixed(0)} MB deployed, ${warm.toFixed(0)} MB with one warm isolate each (${perFunctionKb.toFixed(0)} KB per function)`,
      );
    }
  } finally {
    await server.stop();
  }
}

const measures: Record<string, () => Promise<void>> = { deploys, cold, idle };
const measure = measures[process.argv[2] ?? ''];
if (!measure) {
  console.error(`usage: node bench/density-ab.ts ${Object.keys(measures).join('|')}`);
  process.exit(2);
}
await measure();
