import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ErrorCode } from '@faas/core';
import {
  listOwnedContainers,
  MANAGED_LABEL,
  OWNER_LABEL,
  ownerIdFor,
} from '../../packages/server/src/runtimes/container/container-labels.ts';
import { createContainerRuntime } from '../../packages/server/src/runtimes/container/container-runtime.ts';
import { MemoryBlobStore } from '../../packages/testkit/src/memory-blob-store.ts';
import { buildImagesForTests, createTestRuntime, docker, engineSkipReason, request } from './support.ts';

const skip = await engineSkipReason();

describe('container runtime without an engine', () => {
  it('is not ready, says how to get an engine, and fails invokes with RUNTIME_UNAVAILABLE', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'faas-ct-'));
    const runtime = createContainerRuntime({
      blobs: new MemoryBlobStore(),
      dataDir,
      idleTimeoutMs: 60_000,
      dockerHost: `unix://${join(dataDir, 'no-engine.sock')}`,
      logger: { info() {}, warn() {}, error() {} },
    });
    try {
      const health = await runtime.health();
      assert.equal(health.ready, false);
      assert.ok(!health.ready);
      assert.match(health.reason, /scripts\/install-engine\.sh/);
      const fn = {
        name: 'f',
        version: 1,
        runtime: 'node' as const,
        handler: 'index.default',
        env: {},
        timeoutMs: 1000,
        memoryMb: 128,
        maxConcurrency: 1,
        maxRetries: 0,
        routes: [],
        description: '',
        codeSha256: 'x',
        codeSizeBytes: 0,
        artifactSha256: 'x',
        createdAt: '',
      };
      await assert.rejects(
        runtime.invoke(request(fn, {})),
        (err: { code?: string }) => err.code === ErrorCode.RUNTIME_UNAVAILABLE,
      );
    } finally {
      await runtime.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('container runtime lifecycle on the real engine', { skip }, () => {
  it('removes orphans of a crashed run with the same data dir on start', { timeout: 900_000 }, async () => {
    const images = await buildImagesForTests();
    const t = await createTestRuntime();
    try {
      const orphan = await docker.createContainer({
        Image: images.python,
        Entrypoint: ['sleep', '60'],
        Labels: { [MANAGED_LABEL]: 'true', [OWNER_LABEL]: ownerIdFor(t.dataDir) },
        HostConfig: { NetworkMode: 'none' },
      });
      const fn = await t.deploy({ 'index.js': 'export default async () => "ok"' });
      const outcome = await t.runtime.invoke(request(fn, {}));
      assert.equal(outcome.status, 'succeeded');
      const ids = await listOwnedContainers(docker, t.runtime.ownerId);
      assert.ok(!ids.includes(orphan.id), 'the orphan was removed');
    } finally {
      await t.close();
    }
    const left = await listOwnedContainers(docker, t.runtime.ownerId);
    assert.equal(left.length, 0, 'close removes every container');
  });

  it('scales a version to zero after its idle timeout', { timeout: 900_000 }, async () => {
    await buildImagesForTests();
    const t = await createTestRuntime({ idleTimeoutMs: 1000 });
    try {
      const fn = await t.deploy({ 'index.js': 'export default async () => 1' });
      await t.runtime.prepare(fn);
      assert.equal(t.runtime.stats().warm, 1);
      const giveUpAt = Date.now() + 30_000;
      while (t.runtime.stats().warm > 0 && Date.now() < giveUpAt)
        await new Promise((r) => setTimeout(r, 100));
      assert.equal(t.runtime.stats().warm, 0);
      assert.equal(await t.containerCount(), t.runtime.trackedContainers());
    } finally {
      await t.close();
    }
  });

  it('runs node functions under gVisor when asked', { timeout: 900_000 }, async (ctx) => {
    const info = (await docker.info()) as { Runtimes?: Record<string, unknown> };
    if (!info.Runtimes?.['gvisor-uds']) {
      ctx.skip('the engine has no gvisor-uds runtime: run scripts/install-engine.sh');
      return;
    }
    await buildImagesForTests();
    const t = await createTestRuntime({ sparesPerImage: 0 });
    try {
      const fn = await t.deploy(
        {
          'index.js': `import { readFileSync } from 'node:fs';
          export default async () => ({ kernel: readFileSync('/proc/version', 'utf8') })`,
        },
        { isolation: 'gvisor' },
      );
      const outcome = await t.runtime.invoke(request(fn, {}));
      assert.equal(outcome.status, 'succeeded', JSON.stringify(outcome));
      assert.ok(outcome.status === 'succeeded');
      // gVisor's Sentry reports its own kernel version string, not the host's.
      const host = (await import('node:fs')).readFileSync('/proc/version', 'utf8');
      assert.notEqual((outcome.result as { kernel: string }).kernel, host);
    } finally {
      await t.close();
    }
  });

  it('runs gVisor node functions of any memoryMb: runsc cannot change the limits of a running container, so no spare of other limits is used', {
    timeout: 900_000,
  }, async (ctx) => {
    const info = (await docker.info()) as { Runtimes?: Record<string, unknown> };
    if (!info.Runtimes?.['gvisor-uds']) {
      ctx.skip('the engine has no gvisor-uds runtime: run scripts/install-engine.sh');
      return;
    }
    await buildImagesForTests();
    const t = await createTestRuntime();
    try {
      for (const memoryMb of [256, 256, 192]) {
        const fn = await t.deploy(
          { 'index.js': 'export default () => "ok"' },
          { isolation: 'gvisor', memoryMb },
        );
        const outcome = await t.runtime.invoke(request(fn, {}));
        assert.equal(outcome.status, 'succeeded', `${memoryMb} MB: ${JSON.stringify(outcome)}`);
        // A spare for the next function of this kind is made meanwhile.
        await t.runtime.settled();
      }
    } finally {
      await t.close();
    }
  });
});
