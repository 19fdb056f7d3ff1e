// Measures the container runtime against the real engine: warm invoke latency and throughput,
// first invoke after deploy (spare containers), and ephemeral sandbox runs against
// `docker run --rm`. Run: node scripts/bench-container.ts  (needs an engine: scripts/install-engine.sh)
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FunctionVersion } from '@faas/core';
import { pack } from 'tar-stream';
import { createContainerRuntime } from '../packages/server/src/runtimes/container/container-runtime.ts';
import { createDockerClient } from '../packages/server/src/runtimes/container/docker-engine.ts';
import { buildRuntimeImages } from '../packages/server/src/runtimes/container/images/build-runtime-images.ts';
import { MemoryBlobStore } from '../packages/testkit/src/memory-blob-store.ts';

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const fmt = (ms: number) => `${ms.toFixed(2)} ms`;

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const tar = pack();
  for (const [name, content] of Object.entries(files)) tar.entry({ name, mtime: new Date(0) }, content);
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const docker = createDockerClient();
const images = await buildRuntimeImages({ docker, cacheDir: join(tmpdir(), 'faas-test-image-cache') });
const dataDir = await mkdtemp(join(tmpdir(), 'faas-bench-'));
const blobs = new MemoryBlobStore();
const runtime = createContainerRuntime({
  blobs,
  dataDir,
  idleTimeoutMs: 600_000,
  sparesPerImage: 2,
  sandboxSpares: 2,
});

let n = 0;
async function deploy(
  runtimeName: 'node' | 'python',
  files: Record<string, string>,
  handler: string,
): Promise<FunctionVersion> {
  const code = await blobs.put(await tarOf(files));
  n += 1;
  return {
    name: `bench-${n}`,
    version: 1,
    runtime: runtimeName,
    handler,
    env: {},
    timeoutMs: 10_000,
    memoryMb: 128,
    maxConcurrency: 8,
    maxRetries: 0,
    routes: [],
    description: '',
    codeSha256: code.sha256,
    codeSizeBytes: code.sizeBytes,
    artifactSha256: code.sha256,
    createdAt: new Date().toISOString(),
  };
}
const invoke = (fn: FunctionVersion, event: unknown, id = 'b') =>
  runtime.invoke({ invocationId: id, fn, event, deadline: Date.now() + fn.timeoutMs, log: () => {} });

try {
  await runtime.warmUp();
  await runtime.settled();

  // First invoke after deploy: each new version takes a spare container.
  const first: number[] = [];
  for (let i = 0; i < 10; i++) {
    const fn = await deploy(
      'node',
      { 'index.mjs': 'export default async (e) => ({ ok: e })' },
      'index.default',
    );
    await runtime.settled();
    const started = performance.now();
    const outcome = await invoke(fn, i);
    first.push(performance.now() - started);
    if (outcome.status !== 'succeeded') throw new Error(JSON.stringify(outcome));
    await runtime.retire(fn.name);
  }
  console.log(
    `first invoke after deploy (node, spare ready): p50 ${fmt(percentile(first, 50))}  p90 ${fmt(percentile(first, 90))}`,
  );

  for (const kind of ['node', 'python'] as const) {
    const fn =
      kind === 'node'
        ? await deploy('node', { 'index.mjs': 'export default async (e) => ({ ok: e })' }, 'index.default')
        : await deploy('python', { 'main.py': 'def handler(e, c):\n    return {"ok": e}\n' }, 'main.handler');
    await runtime.prepare(fn);
    for (let i = 0; i < 200; i++) await invoke(fn, i);
    const warm: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const started = performance.now();
      await invoke(fn, i);
      warm.push(performance.now() - started);
    }
    console.log(
      `warm invoke (${kind}, sequential): p50 ${fmt(percentile(warm, 50))}  p99 ${fmt(percentile(warm, 99))}`,
    );
    // Throughput: 8 callers at once, up to maxConcurrency containers.
    const total = 6000;
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < total) {
          next += 1;
          await invoke(fn, next);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    console.log(`warm throughput (${kind}, 8 concurrent): ${(total / seconds).toFixed(0)} req/s`);
  }

  // Ephemeral sandbox vs docker run --rm.
  await runtime.runInSandbox({ image: images.python, command: ['true'] });
  const sandbox: number[] = [];
  for (let i = 0; i < 10; i++) {
    await runtime.settled();
    const started = performance.now();
    const result = await runtime.runInSandbox({ image: images.python, command: ['true'] });
    sandbox.push(performance.now() - started);
    if (result.exitCode !== 0) throw new Error(result.stderr);
  }
  const dockerRun: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    execFileSync('docker', ['run', '--rm', '--network', 'none', '--entrypoint', 'true', images.python]);
    dockerRun.push(performance.now() - started);
  }
  const ratio = percentile(sandbox, 50) / percentile(dockerRun, 50);
  console.log(
    `ephemeral sandbox: p50 ${fmt(percentile(sandbox, 50))}; docker run --rm: p50 ${fmt(percentile(dockerRun, 50))}; ratio ${ratio.toFixed(2)}`,
  );
} finally {
  await runtime.close();
  await rm(dataDir, { recursive: true, force: true });
}
