/**
 * Quick measurement of the isolate runtime (not a test): cold start and warm call.
 * Run: node packages/server/src/runtimes/isolate/isolate.bench.ts
 */
import type { FunctionVersion, InvokeRequest } from '@faas/core';
import { MemoryBlobStore } from '@faas/testkit';
import { createIsolateRuntime } from './isolate-runtime.ts';

const blobs = new MemoryBlobStore();
const runtime = createIsolateRuntime({ blobs });
const source = 'var __faas = { default: async (event) => ({ ok: true, echo: event }) };';
const { sha256, sizeBytes } = await blobs.put(new TextEncoder().encode(source));

function version(name: string, maxConcurrency = 1): FunctionVersion {
  return {
    name,
    version: 1,
    runtime: 'js',
    handler: 'index.default',
    env: {},
    timeoutMs: 10_000,
    memoryMb: 64,
    maxConcurrency,
    maxRetries: 0,
    routes: [],
    description: '',
    codeSha256: sha256,
    codeSizeBytes: sizeBytes,
    artifactSha256: sha256,
    createdAt: new Date(0).toISOString(),
  };
}

function request(fn: FunctionVersion, event: unknown): InvokeRequest {
  return { invocationId: 'bench', fn, event, deadline: Date.now() + 10_000, log: () => {} };
}

function summary(label: string, samplesMs: number[]): void {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  const mean = sorted.reduce((s, v) => s + v, 0) / sorted.length;
  const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`);
  console.log(
    `${label.padEnd(44)} mean ${fmt(mean)}  p50 ${fmt(at(0.5))}  p99 ${fmt(at(0.99))}  (n=${sorted.length})`,
  );
}

async function coldStarts(prefix: string): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < 220; i++) {
    const fn = version(`${prefix}-${i}`);
    const t = performance.now();
    await runtime.invoke(request(fn, { i }));
    samples.push(performance.now() - t);
    await runtime.retire(fn.name);
  }
  return samples.slice(20);
}

// Cold start of a version nothing else uses: blob read, compile, isolate, context, prelude, run.
summary('cold start, artifact not loaded', await coldStarts('cold'));

// The same while another version holds the artifact (scale-out of a loaded version works so):
// the source and V8 code cache are reused.
const warm = version('warm');
await runtime.prepare(warm);
summary('cold start, artifact and code cache loaded', await coldStarts('cached'));

// Warm call: sequential invokes of a prepared version.
for (let i = 0; i < 2000; i++) await runtime.invoke(request(warm, { i }));
const warmSamples: number[] = [];
for (let i = 0; i < 20_000; i++) {
  const t = performance.now();
  await runtime.invoke(request(warm, { i }));
  warmSamples.push(performance.now() - t);
}
summary('warm invoke (small JSON event and result)', warmSamples);

await runtime.close();
