// Section 10: cold and warm invoke latency of every runtime in one run, side by side: node,
// python and go (container runtime, runc), wasm (node:wasi in a worker) and js (V8 isolates).
// On the runtimes themselves, no HTTP: what a runtime costs, not the gateway (sections 1-3 time
// the gateway). Each function echoes a small JSON event.
//
// cold: the first invoke of a version no instance has loaded, its code already stored (and, for
// go, built): as after a deploy elsewhere or after idle scale-to-zero. Container runtimes find a
// spare container ready (the bench waits for the refill between cold calls). warm: sequential
// invokes of a loaded version, after 5 unmeasured ones. Count-bounded, not time-bounded.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlobStore, FunctionVersion, Runtime } from '@faas/core';
import { pack } from 'tar-stream';
import { WASM_TEMPLATE_MODULE } from '../packages/cli/src/wasm-template.ts';
import {
  type ContainerRuntime,
  createContainerRuntime,
} from '../packages/server/src/runtimes/container/container-runtime.ts';
import { createIsolateRuntime } from '../packages/server/src/runtimes/isolate/isolate-runtime.ts';
import { createWasmRuntime } from '../packages/server/src/runtimes/wasm/wasm-runtime.ts';
import { buildIsolateArtifact } from '../packages/testkit/src/fixtures/js-fixtures.ts';
import { MemoryBlobStore } from '../packages/testkit/src/memory-blob-store.ts';
import type { Metric } from './lib/report.ts';
import { ms, percentile, sleep } from './lib/stats.ts';

export const LATENCY_RUNTIMES = ['node', 'python', 'go', 'wasm', 'js'] as const;
export type LatencyRuntime = (typeof LATENCY_RUNTIMES)[number];
/** The row the ratios divide by: the container runtime's node, the runtime most functions use. */
export const LATENCY_BASELINE: LatencyRuntime = 'node';

/** The same handler in each runtime's form: files of a code tar, or the stored artifact. */
const SOURCES = {
  node: {
    file: 'index.mjs',
    handler: 'index.default',
    code: 'export default async (e) => ({ ok: true, e })\n',
  },
  python: {
    file: 'main.py',
    handler: 'main.handler',
    code: 'def handler(e, c):\n    return {"ok": True, "e": e}\n',
  },
  go: {
    file: 'main.go',
    handler: 'main.Handler',
    code: 'package main\n\nimport (\n\t"context"\n\t"encoding/json"\n)\n\nfunc Handler(ctx context.Context, e json.RawMessage) (any, error) {\n\treturn map[string]any{"ok": true, "e": e}, nil\n}\n',
  },
} as const;
const JS_SOURCE = 'export default async (e) => ({ ok: true, e })\n';

/** Time for a container runtime to start the next spare after a cold call took one. */
const SPARE_REFILL_MS = 1500;

export interface LatencyRow {
  runtime: LatencyRuntime;
  cold: { p50: number; p99: number; n: number };
  warm: { p50: number; p99: number; n: number };
}

export interface RuntimeLatencyOptions {
  /** Cold invokes per runtime (each a new version). */
  coldCount: number;
  /** Measured warm invokes per runtime. */
  warmCount: number;
  /** @default all of LATENCY_RUNTIMES */
  runtimes?: readonly LatencyRuntime[];
  log: (line: string) => void;
}

async function tarOf(files: Record<string, string>): Promise<Uint8Array> {
  const tar = pack();
  for (const [name, content] of Object.entries(files))
    tar.entry({ name, mtime: new Date(0), mode: 0o644 }, content);
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The code of `runtime`'s echo function, stored; with the handler it is called by. */
async function store(blobs: BlobStore, runtime: LatencyRuntime) {
  if (runtime === 'js') {
    const artifact = await blobs.put(new TextEncoder().encode(await buildIsolateArtifact(JS_SOURCE)));
    return { handler: 'index.default', code: artifact };
  }
  if (runtime === 'wasm') return { handler: 'main._start', code: await blobs.put(WASM_TEMPLATE_MODULE) };
  const source = SOURCES[runtime];
  return { handler: source.handler, code: await blobs.put(await tarOf({ [source.file]: source.code })) };
}

function versionOf(
  runtime: LatencyRuntime,
  stored: Awaited<ReturnType<typeof store>>,
  version: number,
): FunctionVersion {
  return {
    name: `bench-latency-${runtime}`,
    version,
    runtime,
    handler: stored.handler,
    env: {},
    timeoutMs: 30_000,
    memoryMb: 128,
    maxConcurrency: 1,
    maxRetries: 0,
    routes: [],
    description: '',
    codeSha256: stored.code.sha256,
    codeSizeBytes: stored.code.sizeBytes,
    artifactSha256: stored.code.sha256,
    createdAt: new Date().toISOString(),
  };
}

async function timed(runtime: Runtime, fn: FunctionVersion): Promise<number> {
  const started = performance.now();
  const outcome = await runtime.invoke({
    invocationId: `bench-${Math.random().toString(36).slice(2)}`,
    fn,
    event: { name: 'Ada', n: 1 },
    deadline: Date.now() + fn.timeoutMs,
    log: () => {},
  });
  const took = performance.now() - started;
  if (outcome.status !== 'succeeded') throw new Error(`${fn.runtime}: ${JSON.stringify(outcome)}`);
  return took;
}

/** Cold then warm invokes of one runtime's echo function. */
async function measureOne(
  runtime: Runtime,
  kind: LatencyRuntime,
  blobs: BlobStore,
  options: RuntimeLatencyOptions,
): Promise<LatencyRow> {
  const stored = await store(blobs, kind);
  const container = kind === 'node' || kind === 'python' || kind === 'go';
  // The deploy: images, the go build, a first instance; not measured.
  await runtime.prepare(versionOf(kind, stored, 1));
  const cold: number[] = [];
  for (let i = 0; i < options.coldCount; i++) {
    if (container) await sleep(SPARE_REFILL_MS);
    const version = 100 + i;
    cold.push(await timed(runtime, versionOf(kind, stored, version)));
    await runtime.retire(`bench-latency-${kind}`, version);
  }
  const warmFn = versionOf(kind, stored, 1);
  for (let i = 0; i < 5; i++) await timed(runtime, warmFn);
  const warm: number[] = [];
  for (let i = 0; i < options.warmCount; i++) warm.push(await timed(runtime, warmFn));
  const stat = (values: number[]) => ({
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    n: values.length,
  });
  return { runtime: kind, cold: stat(cold), warm: stat(warm) };
}

/** The rows as a table, each p50/p99 with its ratio to the baseline's (`×1.00` on the baseline). */
export function latencyTable(
  rows: readonly LatencyRow[],
  baseline: LatencyRuntime = LATENCY_BASELINE,
): string {
  const base = rows.find((r) => r.runtime === baseline);
  const ratio = (value: number, of: number | undefined) =>
    of === undefined || !Number.isFinite(value) || !(of > 0) ? '' : ` ×${(value / of).toFixed(2)}`;
  const header = ['runtime', 'cold p50', 'cold p99', 'warm p50', 'warm p99', 'n cold/warm'];
  const lines = rows.map((r) => [
    r.runtime,
    `${ms(r.cold.p50)}${ratio(r.cold.p50, base?.cold.p50)}`,
    `${ms(r.cold.p99)}${ratio(r.cold.p99, base?.cold.p99)}`,
    `${ms(r.warm.p50)}${ratio(r.warm.p50, base?.warm.p50)}`,
    `${ms(r.warm.p99)}${ratio(r.warm.p99, base?.warm.p99)}`,
    `${r.cold.n}/${r.warm.n}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  const row = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ');
  const note = base
    ? `ratios: × the ${baseline} row's figure in the same column`
    : `no ${baseline} row: no ratios`;
  return [row(header), ...lines.map(row), note].join('\n');
}

/**
 * Section 9. Container rows need a Docker Engine (`withContainers`); without one they are left out
 * and the table says so through its missing rows and the returned note.
 */
export async function measureRuntimeLatency(
  options: RuntimeLatencyOptions & { withContainers: boolean },
): Promise<{ rows: LatencyRow[]; metrics: Metric[]; notes: string[] }> {
  const wanted = options.runtimes ?? LATENCY_RUNTIMES;
  const notes: string[] = [];
  const blobs = new MemoryBlobStore();
  const dataDir = await mkdtemp(join(tmpdir(), 'faas-bench-latency-'));
  const runtimes: Runtime[] = [];
  const rows: LatencyRow[] = [];
  let containers: ContainerRuntime | undefined;
  try {
    containers = options.withContainers
      ? createContainerRuntime({
          blobs,
          dataDir,
          idleTimeoutMs: 600_000,
          sparesPerImage: 1,
          sandboxSpares: 0,
          logger: { info() {}, warn() {}, error: console.error },
        })
      : undefined;
    if (containers) runtimes.push(containers);
    const isolates = createIsolateRuntime({ blobs, idleTimeoutMs: 600_000 });
    runtimes.push(isolates);
    const wasm = createWasmRuntime({ blobs, idleTimeoutMs: 600_000 });
    runtimes.push(wasm);
    for (const kind of wanted) {
      const runtime = kind === 'js' ? isolates : kind === 'wasm' ? wasm : containers;
      if (!runtime) {
        notes.push(`9. ${kind} left out: no Docker Engine (or BENCH_SKIP_CONTAINER=1)`);
        continue;
      }
      const row = await measureOne(runtime, kind, blobs, options);
      options.log(
        `  ${kind.padEnd(6)} cold p50 ${ms(row.cold.p50)} p99 ${ms(row.cold.p99)}  warm p50 ${ms(row.warm.p50)} p99 ${ms(row.warm.p99)}`,
      );
      rows.push(row);
    }
    options.log(
      latencyTable(rows)
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  } finally {
    for (const runtime of runtimes) await runtime.close();
    // The go build made a build cache volume of this runtime's own.
    await containers?.docker
      .getVolume(`faas-go-build-${containers.ownerId}`)
      .remove()
      .catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
  }
  const section = 'runtime latency (no HTTP)';
  const base = rows.find((r) => r.runtime === LATENCY_BASELINE);
  const metric = (r: LatencyRow, what: 'cold' | 'warm', p: 'p50' | 'p99'): Metric => {
    const of = base?.[what][p];
    return {
      section,
      metric: `${r.runtime} ${what} invoke ${p} (n=${r[what].n})`,
      unit: 'ms',
      faas: r[what][p],
      ...(of !== undefined && r !== base ? { baseline: of, ratio: r[what][p] / of } : {}),
    };
  };
  const metrics = rows.flatMap((r) => [
    metric(r, 'cold', 'p50'),
    metric(r, 'cold', 'p99'),
    metric(r, 'warm', 'p50'),
    metric(r, 'warm', 'p99'),
  ]);
  return { rows, metrics, notes };
}
