/**
 * Quick measurement of the deploy-time code pipeline (not a test): building a small function's
 * isolate bundle, and the whole prepareCode for a small ts function and a small zip.
 * Run: node packages/server/src/control/code/prepare-code.bench.ts
 */
import { MemoryBlobStore } from '@faas/testkit';
import { zipSync } from 'fflate';
import { buildIsolateArtifact } from './build-isolate-artifact.ts';
import { canonicalArchive } from './canonical-archive.ts';
import { prepareCode } from './prepare-code.ts';

const encode = (s: string) => new TextEncoder().encode(s);
const files = new Map([
  [
    'index.ts',
    encode("import { greet } from './greet';\nexport default async (e: { name: string }) => greet(e.name);"),
  ],
  ['greet.ts', encode('export const greet = (name: string): string => "hello " + name;')],
]);
const zip = Buffer.from(zipSync(Object.fromEntries(files))).toString('base64');
const blobs = new MemoryBlobStore();
const options = { runtime: 'ts' as const, handler: 'index.default', blobs, maxBytes: 50 * 1024 * 1024 };

function summary(label: string, samplesMs: number[]): void {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  const mean = sorted.reduce((s, v) => s + v, 0) / sorted.length;
  const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`);
  console.log(
    `${label.padEnd(44)} mean ${fmt(mean)}  p50 ${fmt(at(0.5))}  p99 ${fmt(at(0.99))}  (n=${sorted.length})`,
  );
}

async function measure(label: string, run: () => unknown, n = 200): Promise<void> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await run();
    samples.push(performance.now() - t);
  }
  summary(label, samples);
}

const first = performance.now();
await buildIsolateArtifact(files, 'index.ts', { runtime: 'ts' });
console.log(
  `first build (starts esbuild's service)`.padEnd(44),
  `${(performance.now() - first).toFixed(2)} ms`,
);
await measure('buildIsolateArtifact, 2 small ts files', () =>
  buildIsolateArtifact(files, 'index.ts', { runtime: 'ts' }),
);
await measure('canonicalArchive, 2 small files', () => canonicalArchive(files), 2000);
await measure('prepareCode, one ts string', () =>
  prepareCode('export default async (e: unknown) => e;', options),
);
await measure('prepareCode, zip of 2 ts files', () => prepareCode({ archive: zip }, options));
