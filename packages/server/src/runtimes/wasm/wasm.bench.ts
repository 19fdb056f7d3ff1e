/**
 * Quick measurement of the wasm runtime next to the isolate runtime (not a test): cold start and
 * warm call of a small module (the echo fixture, built from WAT with wabt) and of a small js
 * function, both in this process. Run: node packages/server/src/runtimes/wasm/wasm.bench.ts
 * Cold: the first invoke of a version after its deploy (prepare compiled the module and started
 * the warm threads, as a deploy does); also cold with nothing prepared (blob read and compile).
 */
import type { FunctionVersion, InvokeRequest } from '@faas/core';
import { MemoryBlobStore, watModule } from '@faas/testkit';
import { createIsolateRuntime } from '../isolate/isolate-runtime.ts';
import { createWasmRuntime } from './wasm-runtime.ts';

const blobs = new MemoryBlobStore();
const wasm = await blobs.put(watModule('echo'));
const js = await blobs.put(new TextEncoder().encode('var __faas = { default: async (event) => event };'));

function version(name: string, runtime: 'wasm' | 'js'): FunctionVersion {
  const stored = runtime === 'wasm' ? wasm : js;
  return {
    name,
    version: 1,
    runtime,
    handler: runtime === 'wasm' ? 'main._start' : 'index.default',
    env: {},
    timeoutMs: 10_000,
    memoryMb: 64,
    maxConcurrency: 1,
    maxRetries: 0,
    routes: [],
    description: '',
    codeSha256: stored.sha256,
    codeSizeBytes: stored.sizeBytes,
    artifactSha256: stored.sha256,
    createdAt: new Date(0).toISOString(),
  };
}

function request(fn: FunctionVersion, event: unknown): InvokeRequest {
  return { invocationId: 'bench', fn, event, deadline: Date.now() + 10_000, log: () => {} };
}

function summary(label: string, samplesMs: number[]): void {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`);
  console.log(`${label.padEnd(52)} p50 ${fmt(at(0.5))}  p99 ${fmt(at(0.99))}  (n=${sorted.length})`);
}

type AnyRuntime = ReturnType<typeof createWasmRuntime> | ReturnType<typeof createIsolateRuntime>;

async function coldStarts(runtime: AnyRuntime, kind: 'wasm' | 'js', prepared: boolean): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < 120; i++) {
    const fn = version(`${kind}-${prepared ? 'p' : 'u'}-${i}`, kind);
    if (prepared) await runtime.prepare(fn);
    const t = performance.now();
    const outcome = await runtime.invoke(request(fn, { i }));
    samples.push(performance.now() - t);
    if (outcome.status !== 'succeeded') throw new Error(JSON.stringify(outcome));
    await runtime.retire(fn.name);
  }
  return samples.slice(20);
}

async function warmCalls(runtime: AnyRuntime, kind: 'wasm' | 'js', count: number): Promise<number[]> {
  const fn = version(`${kind}-warm`, kind);
  await runtime.prepare(fn);
  for (let i = 0; i < 200; i++) await runtime.invoke(request(fn, { i }));
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await runtime.invoke(request(fn, { i }));
    samples.push(performance.now() - t);
  }
  return samples;
}

const count = Number(process.env.BENCH_WASM_CALLS ?? 5000);
const wasmRuntime = createWasmRuntime({ blobs });
const isolateRuntime = createIsolateRuntime({ blobs });
try {
  summary('wasm: cold start after deploy (module compiled)', await coldStarts(wasmRuntime, 'wasm', true));
  summary(
    'wasm: cold start, nothing prepared (read + compile)',
    await coldStarts(wasmRuntime, 'wasm', false),
  );
  summary('wasm: warm invoke (small JSON event and result)', await warmCalls(wasmRuntime, 'wasm', count));
  summary('js (isolate, in process): cold start after deploy', await coldStarts(isolateRuntime, 'js', true));
  summary('js (isolate, in process): warm invoke', await warmCalls(isolateRuntime, 'js', count));
} finally {
  await wasmRuntime.close();
  await isolateRuntime.close();
}
