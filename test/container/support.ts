import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FunctionVersion } from '@faas/core';
import { pack } from 'tar-stream';
import { listOwnedContainers } from '../../packages/server/src/runtimes/container/container-labels.ts';
import {
  type ContainerRuntime,
  type ContainerRuntimeOptions,
  createContainerRuntime,
} from '../../packages/server/src/runtimes/container/container-runtime.ts';
import {
  createDockerClient,
  pingEngine,
} from '../../packages/server/src/runtimes/container/docker-engine.ts';
import { buildRuntimeImages } from '../../packages/server/src/runtimes/container/images/build-runtime-images.ts';
import { MemoryBlobStore } from '../../packages/testkit/src/memory-blob-store.ts';

export const docker = createDockerClient();

/** Why the container tests skip: only when no engine answers. */
export async function engineSkipReason(): Promise<string | false> {
  const ping = await pingEngine(docker, 3000);
  return ping.ok ? false : `no Docker Engine answers: ${ping.reason}`;
}

/** Shared by test files, so the base rootfs is made once per machine. */
export const IMAGE_CACHE_DIR = join(tmpdir(), 'faas-test-image-cache');

export function buildImagesForTests() {
  return buildRuntimeImages({ docker, cacheDir: IMAGE_CACHE_DIR });
}

/** A deterministic tar of files, as the deploy pipeline stores code. */
export async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const tar = pack();
  for (const [name, content] of Object.entries(files).sort(([a], [b]) => a.localeCompare(b))) {
    tar.entry({ name, mtime: new Date(0), mode: 0o644 }, content);
  }
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

let counter = 0;

export interface TestRuntime {
  runtime: ContainerRuntime;
  blobs: MemoryBlobStore;
  dataDir: string;
  /** A version of a new function with that code. */
  deploy(files: Record<string, string>, config?: Partial<FunctionVersion>): Promise<FunctionVersion>;
  /** Containers of this runtime in the engine, after spares and removals settle. */
  containerCount(): Promise<number>;
  close(): Promise<void>;
}

export async function createTestRuntime(
  options: Partial<ContainerRuntimeOptions> = {},
): Promise<TestRuntime> {
  const dataDir = await mkdtemp(join(tmpdir(), 'faas-ct-'));
  const blobs = new MemoryBlobStore();
  const runtime = createContainerRuntime({
    blobs,
    dataDir,
    idleTimeoutMs: 60_000,
    imageCacheDir: IMAGE_CACHE_DIR,
    sparesPerImage: 1,
    sandboxSpares: 1,
    logger: { info() {}, warn() {}, error: console.error },
    ...options,
  });
  return {
    runtime,
    blobs,
    dataDir,
    async deploy(files, config = {}) {
      const code = await blobs.put(await tarOf(files));
      counter += 1;
      return {
        name: `fn-${process.pid}-${counter}`,
        version: 1,
        runtime: 'node',
        handler: 'index.default',
        env: {},
        timeoutMs: 10_000,
        memoryMb: 128,
        maxConcurrency: 4,
        maxRetries: 0,
        routes: [],
        description: '',
        codeSha256: code.sha256,
        codeSizeBytes: code.sizeBytes,
        artifactSha256: code.sha256,
        createdAt: new Date().toISOString(),
        ...config,
      };
    },
    async containerCount() {
      await runtime.settled();
      return (await listOwnedContainers(docker, runtime.ownerId)).length;
    },
    async close() {
      await runtime.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** An invoke request with a deadline `timeoutMs` from now, collecting logs. */
export function request(fn: FunctionVersion, event: unknown, logs: string[] = []) {
  return {
    invocationId: `inv-${Math.random().toString(36).slice(2)}`,
    fn,
    event,
    deadline: Date.now() + fn.timeoutMs,
    log: (level: string, message: string) => {
      logs.push(`${level}: ${message}`);
    },
  };
}
