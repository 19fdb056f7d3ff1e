import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ErrorCode } from '@faas/core';
import type { RuntimeImageTags } from '../../packages/server/src/runtimes/container/images/build-runtime-images.ts';
import { buildImagesForTests, createTestRuntime, engineSkipReason, type TestRuntime } from './support.ts';

const skip =
  (await engineSkipReason()) || (process.getuid?.() !== 0 ? 'cache file systems are mounted by root' : false);

const CAP_MB = 16;

describe('dependency caches: per project, size-capped (real engine)', { skip }, () => {
  let t: TestRuntime;
  let images: RuntimeImageTags;
  const alpha = `alpha-${randomBytes(3).toString('hex')}`;
  const beta = `beta-${randomBytes(3).toString('hex')}`;

  before(
    async () => {
      images = await buildImagesForTests();
      t = await createTestRuntime({ dependencyCacheMb: CAP_MB });
    },
    { timeout: 900_000 },
  );

  after(async () => {
    await t?.close();
  });

  const run = (project: string, command: string) =>
    t.runtime.runInSandbox({ image: images.base, project, command, dependencyCaches: ['npm'] });

  it('shares a cache among the sandboxes of a project, and no other project sees or reaches it', async () => {
    const wrote = await run(alpha, 'echo secret > "$npm_config_cache/token" && echo "$npm_config_cache"');
    assert.equal(wrote.exitCode, 0, wrote.stderr);
    assert.equal(wrote.stdout, '/cache/npm\n');
    assert.equal((await run(alpha, 'cat /cache/npm/token')).stdout, 'secret\n');
    const other = await run(
      beta,
      'ls -A /cache/npm; cat /cache/npm/token; touch /cache/npm/mine && echo wrote',
    );
    assert.equal(other.stdout, 'lost+found\nwrote\n', other.stderr);
    assert.match(other.stderr, /No such file/);
    // Separate file systems: beta's file is not in alpha's cache.
    assert.equal((await run(alpha, 'ls /cache/npm')).stdout, 'lost+found\ntoken\n');
    // Each is its own image and mount, named for its project.
    const mounts = await readFile('/proc/self/mountinfo', 'utf8');
    for (const project of [alpha, beta]) {
      assert.ok((await stat(join(t.dataDir, 'caches', project, 'npm.img'))).isFile());
      assert.ok(mounts.includes(join(t.dataDir, 'caches', project, 'npm')), `${project} mounted`);
    }
  });

  it('caps each cache at FAAS_DEPENDENCY_CACHE_MB: a sandbox that fills it gets ENOSPC, the host no more', async () => {
    const fill = await run(
      alpha,
      `dd if=/dev/urandom of=/cache/npm/big bs=1M count=${CAP_MB * 3} 2>&1; df -m /cache/npm | tail -n 1`,
    );
    assert.match(fill.stdout, /No space left on device/);
    const df = fill.stdout.trim().split('\n').at(-1)?.split(/\s+/) ?? [];
    assert.ok(Number(df[1]) <= CAP_MB, `file system size ${df[1]} MB`);
    // What the image takes on the host's disk, in 512-byte blocks: within the cap.
    const image = await stat(join(t.dataDir, 'caches', alpha, 'npm.img'));
    assert.ok(image.blocks * 512 <= CAP_MB * 1024 * 1024, `${image.blocks * 512} bytes on disk`);
    assert.equal(image.size, CAP_MB * 1024 * 1024);
  });

  it('never runs a job twice when its container dies under it after it started, output or none', async () => {
    // The cache outlives each sandbox: what the command did there shows how often it ran.
    const ran = `/cache/npm/ran-${randomBytes(3).toString('hex')}`;
    assert.equal((await run(beta, 'true')).exitCode, 0);
    await t.runtime.settled(); // a spare of this kind is ready: the job goes to it
    // No output, then the shim is killed: the container ends with no exit code to report.
    await assert.rejects(
      run(beta, `echo x >> ${ran}; kill -9 $PPID`),
      (err: { code?: string }) => err.code === ErrorCode.RUNTIME_UNAVAILABLE,
    );
    assert.equal((await run(beta, `wc -l < ${ran}`)).stdout.trim(), '1', 'the command ran once');
  });

  it('refuses a project id that is not one, and unmounts its caches at close', async () => {
    await assert.rejects(
      t.runtime.runInSandbox({
        image: images.base,
        project: '../x',
        command: ['true'],
        dependencyCaches: ['npm'],
      }),
      (err: { code?: string }) => err.code === ErrorCode.VALIDATION,
    );
    await t.runtime.close();
    const mounts = await readFile('/proc/self/mountinfo', 'utf8');
    assert.ok(!mounts.includes(join(t.dataDir, 'caches')), 'nothing of the caches is still mounted');
  });
});
