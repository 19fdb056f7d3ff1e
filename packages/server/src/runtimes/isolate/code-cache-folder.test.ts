import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FunctionVersion } from '@faas/core';
import { MemoryBlobStore } from '@faas/testkit';
import ivm from 'isolated-vm';
import { ArtifactCache } from './artifact-cache.ts';
import { CodeCacheFolder } from './code-cache-folder.ts';
import { compileCached } from './compile.ts';
import { createIsolateRuntime } from './isolate-runtime.ts';
import { preludeSnapshot } from './prelude.ts';
import { deployScript, invoke, resultOf } from './test-helpers.ts';

const SCRIPT = 'var __faas = { default: async (event) => ({ doubled: event.n * 2 }) };';
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'faas-code-cache-'));
  dirs.push(dir);
  return dir;
}

/** The folder's one cache file, once its (unawaited) write has landed. */
async function cacheFile(dir: string): Promise<string> {
  for (let i = 0; i < 500; i++) {
    const files = readdirSync(dir, { withFileTypes: true }).filter((e) => e.name.endsWith('.cache'));
    if (files[0]) return join(dir, files[0].name);
    await sleep(10);
  }
  throw new Error(`no code cache written in ${dir}`);
}

/** Loads the artifact as a new host would and compiles it in a fresh isolate. */
async function loadAndCompile(blobs: MemoryBlobStore, dir: string, fn: FunctionVersion) {
  const handle = new ArtifactCache(blobs, new CodeCacheFolder(dir)).retain(fn);
  const cache = await handle.load();
  const fromDisk = cache.cachedData;
  // From the startup snapshot, as the runtime's isolates are (a code cache is checked against it).
  const snapshot = preludeSnapshot();
  const isolate = new ivm.Isolate({ memoryLimit: 32, ...(snapshot ? { snapshot } : {}) });
  try {
    await compileCached(isolate, cache);
  } finally {
    isolate.dispose();
    handle.release();
  }
  // Accepted: still the one read from disk; rejected: dropped for the next compile to remake.
  return { fromDisk, accepted: fromDisk !== undefined && cache.cachedData === fromDisk };
}

describe('CodeCacheFolder', () => {
  it("keeps an artifact's code cache for the next load, which compiles from it", async () => {
    const blobs = new MemoryBlobStore();
    const dir = tempDir();
    const fn = await deployScript(blobs, SCRIPT);
    const runtime = createIsolateRuntime({ blobs, codeCacheDir: dir });
    try {
      assert.deepEqual(resultOf((await invoke(runtime, fn, { n: 21 })).outcome), { doubled: 42 });
    } finally {
      await runtime.close();
    }
    await cacheFile(dir);
    // Another load of the version (its pool had gone, or the host was replaced).
    const again = await loadAndCompile(blobs, dir, fn);
    assert.ok(again.fromDisk, 'the second load reads the code cache');
    assert.equal(again.accepted, true, 'V8 compiles from it');

    const restarted = createIsolateRuntime({ blobs, codeCacheDir: dir });
    try {
      assert.deepEqual(resultOf((await invoke(restarted, fn, { n: 4 })).outcome), { doubled: 8 });
    } finally {
      await restarted.close();
    }
  });

  it('keeps and reads back the cache of an artifact too large to compile or read inline', async () => {
    const blobs = new MemoryBlobStore();
    const dir = tempDir();
    // A top-level string of 100 KB: past the inline compile (64 Ki chars), and in the code cache.
    const big = 'x'.repeat(100_000);
    const fn = await deployScript(
      blobs,
      `var big = ${JSON.stringify(big)}; var __faas = { default: async (event) => ({ length: big.length + event.n }) };`,
    );
    const runtime = createIsolateRuntime({ blobs, codeCacheDir: dir });
    try {
      assert.deepEqual(resultOf((await invoke(runtime, fn, { n: 1 })).outcome), { length: 100_001 });
    } finally {
      await runtime.close();
    }
    const file = await cacheFile(dir);
    assert.ok(readFileSync(file).byteLength > 64 * 1024, 'the cache is past the inline read');
    const again = await loadAndCompile(blobs, dir, fn);
    assert.ok(again.fromDisk, 'the second load reads the code cache');
    assert.equal(again.accepted, true, 'V8 compiles from it');
  });

  it('compiles from source past a damaged or foreign cache file, and replaces it', async () => {
    const blobs = new MemoryBlobStore();
    const dir = tempDir();
    const fn = await deployScript(blobs, SCRIPT);
    const runtime = createIsolateRuntime({ blobs, codeCacheDir: dir });
    try {
      resultOf((await invoke(runtime, fn, { n: 1 })).outcome);
    } finally {
      await runtime.close();
    }
    const file = await cacheFile(dir);
    const garbage = Buffer.alloc(readFileSync(file).byteLength, 0x5a);
    writeFileSync(file, garbage);

    const damaged = await loadAndCompile(blobs, dir, fn);
    assert.ok(damaged.fromDisk);
    assert.equal(damaged.accepted, false, 'V8 refuses the damaged cache');

    // The function still runs; its isolates' compiles make a good cache again.
    const next = createIsolateRuntime({ blobs, codeCacheDir: dir, maxIsolates: 1 });
    try {
      // Of another project, so it cannot load beside fn as a context of the same isolate.
      const other = await deployScript(blobs, 'var __faas = { default: () => 0 };', { project: 'other' });
      assert.deepEqual(resultOf((await invoke(next, fn, { n: 5 })).outcome), { doubled: 10 });
      // Another version takes the one isolate: fn's goes, and its next load compiles again.
      resultOf((await invoke(next, other)).outcome);
      assert.deepEqual(resultOf((await invoke(next, fn, { n: 6 })).outcome), { doubled: 12 });
    } finally {
      await next.close();
    }
    const remade = () => existsSync(file) && !readFileSync(file).equals(garbage);
    for (let i = 0; i < 500 && !remade(); i++) await sleep(10);
    assert.equal((await loadAndCompile(blobs, dir, fn)).accepted, true, 'the file was remade');
  });

  it('reads nothing for an artifact it has no file of, nor for a name that is not a sha256', async () => {
    const dir = tempDir();
    const folder = new CodeCacheFolder(join(dir, 'not-made-yet'));
    assert.equal(await folder.read('a'.repeat(64)), undefined);
    writeFileSync(join(dir, 'secret'), 'not a code cache');
    assert.equal(await folder.read('../secret'), undefined);
    await folder.write('../secret', new ivm.ExternalCopy(new ArrayBuffer(8)));
    assert.equal(readFileSync(join(dir, 'secret'), 'utf8'), 'not a code cache');
  });
});
