import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import {
  listOwnedContainers,
  ownerIdFor,
} from '../../packages/server/src/runtimes/container/container-labels.ts';
import {
  CONTAINER_DEFAULTS,
  createContainerRuntime,
} from '../../packages/server/src/runtimes/container/container-runtime.ts';
import { MemoryBlobStore } from '../../packages/testkit/src/memory-blob-store.ts';
import { defineRuntimeSuite } from '../../packages/testkit/src/runtime-suite.ts';
import { createNodeFixtures } from './node-fixtures.ts';
import { buildImagesForTests, docker, engineSkipReason, IMAGE_CACHE_DIR } from './support.ts';

const skip = await engineSkipReason();
const blobs = new MemoryBlobStore();
const dataDirs: string[] = [];

before(
  async () => {
    if (!skip) await buildImagesForTests();
  },
  { timeout: 900_000 },
);

after(async () => {
  // Every runtime the suite made was closed: none may have left a container behind.
  for (const dir of dataDirs) {
    const left = await listOwnedContainers(docker, ownerIdFor(dir));
    assert.equal(left.length, 0, `containers left by the runtime with data dir ${dir}`);
  }
  await Promise.all(dataDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

if (skip) {
  // The suite's cases would all fail without an engine; say why once instead.
  const { it } = await import('node:test');
  it('container runtime conformance', { skip }, () => {});
} else {
  const makeRuntime = ({ idleTimeoutMs }: { idleTimeoutMs?: number }) => {
    // A data dir per runtime: it names the runtime's containers, and a second runtime with the
    // same dir would remove the first one's as orphans.
    const dataDir = mkdtempSync(join(tmpdir(), 'faas-ct-'));
    dataDirs.push(dataDir);
    return createContainerRuntime({
      blobs,
      dataDir,
      idleTimeoutMs: idleTimeoutMs ?? 60_000,
      imageCacheDir: IMAGE_CACHE_DIR,
      sparesPerImage: 1,
      sandboxSpares: 1,
      logger: { info() {}, warn() {}, error: console.error },
    });
  };
  defineRuntimeSuite('container (runc)', makeRuntime, {
    fixtures: createNodeFixtures(blobs),
    supports: ['node', 'python', 'image'],
    maxLogBytes: CONTAINER_DEFAULTS.maxLogBytes,
    // Node itself needs ~40 MB; the hog's limit leaves room to start.
    hogMemoryMb: 96,
  });
  const info = (await docker.info()) as { Runtimes?: Record<string, unknown> };
  if (info.Runtimes?.['gvisor-uds']) {
    defineRuntimeSuite('container (gVisor)', makeRuntime, {
      fixtures: createNodeFixtures(blobs, { isolation: 'gvisor' }),
      supports: ['node', 'python', 'image'],
      maxLogBytes: CONTAINER_DEFAULTS.maxLogBytes,
      hogMemoryMb: 96,
      // Starting a gVisor sandbox takes about a second.
      deadlineSlackMs: 5000,
    });
  }
}
