// Memory per idle js function and calls/s over many functions, in one process, on the isolate
// runtime itself (no HTTP, no isolate hosts): the figures of issue 12 without the server's noise.
// Not part of `npm run bench`. Give it a checkout (this one, or an earlier commit's worktree with
// node_modules) so before and after run from the same script:
//   node --expose-gc bench/isolate-density.ts <tree> [functions = 1000] [seconds = 5]
// N functions of one project (128 MB each) are prepared, the RSS they added is read after a
// garbage collection, then 32 callers invoke functions picked at random for the given seconds.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

interface Runtime {
  prepare(fn: unknown): Promise<void>;
  invoke(request: unknown): Promise<{ status: string; metrics: { coldStart?: boolean } }>;
  stats(): { warm: number };
  close(): Promise<void>;
  readonly isolates?: number;
}

const tree = process.argv[2] ?? '.';
const count = Number(process.argv[3] ?? 1000);
const seconds = Number(process.argv[4] ?? 5);
const { createIsolateRuntime } = await import(
  `${tree}/packages/server/src/runtimes/isolate/isolate-runtime.ts`
);
const { MemoryBlobStore, jsFunctionVersion } = await import(`${tree}/packages/testkit/src/index.ts`);

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const blobs = new MemoryBlobStore();
const runtime: Runtime = createIsolateRuntime({ blobs, memoryBudgetMb: 4096 });
await sleep(300);
gc();
const rssBefore = process.memoryUsage().rss;
const fns: unknown[] = [];
for (let i = 0; i < count; i++) {
  const code = `var __faas = { default: (e) => ({ ok: true, n: e && e.n, id: ${i} }) };`;
  fns.push(jsFunctionVersion(await blobs.put(new TextEncoder().encode(code)), { name: `f${i}` }));
}
for (const fn of fns) await runtime.prepare(fn);
await sleep(300);
gc();
const rssIdle = process.memoryUsage().rss;

let calls = 0;
let errors = 0;
/** Calls that loaded their function again (evicted, expired, or its isolate held): should be none. */
let coldCalls = 0;
const until = performance.now() + seconds * 1000;
async function caller(): Promise<void> {
  while (performance.now() < until) {
    const fn = fns[Math.floor(Math.random() * fns.length)];
    const outcome = await runtime.invoke({
      invocationId: randomUUID(),
      fn,
      event: { n: 1 },
      deadline: Date.now() + 30_000,
      log: () => {},
    });
    if (outcome.metrics.coldStart) coldCalls++;
    if (outcome.status === 'succeeded') calls++;
    else errors++;
  }
}
await Promise.all(Array.from({ length: 32 }, caller));
const mb = (bytes: number) => Math.round(bytes / 104857.6) / 10;
console.log(
  JSON.stringify({
    tree,
    functions: count,
    idleRssMb: mb(rssIdle - rssBefore),
    perFunctionKb: Math.round((rssIdle - rssBefore) / 1024 / count),
    callsPerS: Math.round(calls / seconds),
    errors,
    coldCalls,
    rssAfterCallsMb: mb(process.memoryUsage().rss - rssBefore),
    isolates: runtime.isolates ?? runtime.stats().warm,
    warmContexts: runtime.stats().warm,
  }),
);
await runtime.close();
