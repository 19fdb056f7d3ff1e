// Cold start and warm invoke of the container runtimes side by side (node, python, go), on the
// runtime itself (no HTTP): what a language costs, not the gateway. Run by hand:
//
//   node bench/container-runtimes.ts [coldCount=10] [warmCount=300]
//
// cold: the first invoke of a version no container has loaded, with a spare container ready (as
// after a deploy elsewhere, or after idle scale-to-zero): the spare takes the code and loads it.
// For go the binary is already built (one build per code and handler, at deploy): loading is
// exec'ing it. warm: sequential invokes of a loaded version.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FunctionRuntime, FunctionVersion } from '@faas/core';
import { pack } from 'tar-stream';
import { createContainerRuntime } from '../packages/server/src/runtimes/container/container-runtime.ts';
import { MemoryBlobStore } from '../packages/testkit/src/memory-blob-store.ts';
import { ms, percentile, sleep } from './lib/stats.ts';

const SOURCES: Record<'node' | 'python' | 'go', { file: string; handler: string; code: string }> = {
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
};
// Spares refill in the background; each cold invoke should find one ready.
const SPARE_REFILL_MS = 1500;

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const tar = pack();
  for (const [name, content] of Object.entries(files))
    tar.entry({ name, mtime: new Date(0), mode: 0o644 }, content);
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const coldCount = Number(process.argv[2] ?? 10);
const warmCount = Number(process.argv[3] ?? 300);
const dataDir = await mkdtemp(join(tmpdir(), 'faas-bench-ct-'));
const blobs = new MemoryBlobStore();
const runtime = createContainerRuntime({
  blobs,
  dataDir,
  idleTimeoutMs: 600_000,
  sparesPerImage: 1,
  sandboxSpares: 0,
  logger: { info() {}, warn() {}, error: console.error },
});
try {
  for (const kind of (process.env.BENCH_RUNTIMES?.split(',') ?? ['node', 'python', 'go']) as (
    | 'node'
    | 'python'
    | 'go'
  )[]) {
    const source = SOURCES[kind];
    const code = await blobs.put(await tarOf({ [source.file]: source.code }));
    const version = (n: number): FunctionVersion => ({
      name: `bench-${kind}`,
      version: n,
      runtime: kind as FunctionRuntime,
      handler: source.handler,
      env: {},
      timeoutMs: 30_000,
      memoryMb: 128,
      maxConcurrency: 1,
      maxRetries: 0,
      routes: [],
      description: '',
      codeSha256: code.sha256,
      codeSizeBytes: code.sizeBytes,
      artifactSha256: code.sha256,
      createdAt: new Date().toISOString(),
    });
    const invoke = async (fn: FunctionVersion) => {
      const started = performance.now();
      const outcome = await runtime.invoke({
        invocationId: `b-${Math.random()}`,
        fn,
        event: { n: 1 },
        deadline: Date.now() + fn.timeoutMs,
        log: () => {},
      });
      if (outcome.status !== 'succeeded') throw new Error(`${kind}: ${JSON.stringify(outcome)}`);
      return performance.now() - started;
    };
    // The deploy: images, the go build, the first container.
    const deployStarted = performance.now();
    await runtime.prepare(version(1));
    const deployMs = performance.now() - deployStarted;
    const cold: number[] = [];
    for (let i = 0; i < coldCount; i++) {
      await sleep(SPARE_REFILL_MS);
      cold.push(await invoke(version(100 + i)));
      await runtime.retire(`bench-${kind}`, 100 + i);
    }
    const warm: number[] = [];
    for (let i = 0; i < 20; i++) await invoke(version(1));
    for (let i = 0; i < warmCount; i++) warm.push(await invoke(version(1)));
    console.log(
      `${kind.padEnd(6)} first prepare ${ms(deployMs)}  cold p50 ${ms(percentile(cold, 50))} (n=${coldCount})` +
        `  warm p50 ${ms(percentile(warm, 50))} p99 ${ms(percentile(warm, 99))} (n=${warmCount})`,
    );
  }
} finally {
  await runtime.close();
  await runtime.docker
    .getVolume(`faas-go-build-${runtime.ownerId}`)
    .remove()
    .catch(() => {});
  await rm(dataDir, { recursive: true, force: true });
}
