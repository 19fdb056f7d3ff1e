import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MetadataStore } from '@faas/core';
import {
  EXEC_CACHE_SLOTS,
  ExecCache,
  type ExecCacheInputs,
  execCacheKey,
  MAX_STORED_RESULT_CHARS,
} from './exec-cache.ts';

/** Only the settings part of the store: the cache uses nothing else. */
function settingsStore() {
  const settings = new Map<string, string>();
  let reads = 0;
  const store = {
    async getSetting(key: string) {
      reads += 1;
      return settings.get(key);
    },
    async setSetting(key: string, value: string) {
      settings.set(key, value);
    },
  } as unknown as MetadataStore;
  return { store, settings, reads: () => reads };
}

const inputs: ExecCacheInputs = {
  project: 'default',
  imageId: 'sha256:abc',
  command: ['sh', '-c', 'echo hi'],
  env: { A: '1', B: '2' },
  files: { 'a.txt': 'x' },
  stdin: '',
  memoryMb: 256,
  cpus: 1,
  timeoutMs: 30_000,
  network: false,
  isolation: 'runc',
  dependencyCaches: [],
};

const result = {
  stdout: 'hi\n',
  stderr: '',
  exitCode: 0,
  durationMs: 12,
  timedOut: false,
  oomKilled: false,
  truncated: false,
};

describe('exec cache', () => {
  it('keys by content: env order does not matter, every input does', () => {
    const key = execCacheKey(inputs);
    assert.match(key, /^[0-9a-f]{64}$/);
    assert.equal(execCacheKey({ ...inputs, env: { B: '2', A: '1' } }), key);
    for (const changed of [
      { imageId: 'sha256:def' },
      { command: ['sh', '-c', 'echo ho'] },
      { env: { A: '1' } },
      { files: { 'a.txt': 'y' } },
      { stdin: 'in' },
      { command: 'echo hi' },
      { project: 'other' },
      { memoryMb: 512 },
      { cpus: 0.5 },
      { timeoutMs: 1000 },
      { network: true },
      { isolation: 'gvisor' as const },
      { dependencyCaches: ['npm'] },
    ]) {
      assert.notEqual(execCacheKey({ ...inputs, ...changed }), key, JSON.stringify(changed));
    }
    assert.equal(
      execCacheKey({ ...inputs, dependencyCaches: ['pip', 'npm', 'npm'] }),
      execCacheKey({ ...inputs, dependencyCaches: ['npm', 'pip'] }),
    );
    // Argument boundaries count: ["a b"] is not ["a", "b"].
    assert.notEqual(
      execCacheKey({ ...inputs, command: ['a b'] }),
      execCacheKey({ ...inputs, command: ['a', 'b'] }),
    );
  });

  it('stores results in settings and answers repeats from memory', async () => {
    const { store, settings, reads } = settingsStore();
    const cache = new ExecCache({ store });
    const key = execCacheKey(inputs);
    assert.equal(await cache.get(key), undefined);
    await cache.set(key, result);
    assert.deepEqual(
      [...settings.keys()],
      [`exec-cache-slot:${Number.parseInt(key.slice(0, 8), 16) % 1024}`],
    );
    const before = reads();
    assert.deepEqual(await cache.get(key), result);
    assert.equal(reads(), before, 'a recent hit does not read the store');
    // A new cache over the same store (a restart) still finds it.
    assert.deepEqual(await new ExecCache({ store }).get(key), result);
  });

  it('evicts the least recently used entry from memory, not from the store', async () => {
    const { store, reads } = settingsStore();
    const cache = new ExecCache({ store, maxEntries: 2 });
    await cache.set('a', result);
    await cache.set('b', result);
    await cache.get('a');
    await cache.set('c', result);
    const before = reads();
    await cache.get('a');
    assert.equal(reads(), before, '"a" was used recently, so it stayed');
    assert.deepEqual(await cache.get('b'), result);
    assert.equal(reads(), before + 1, '"b" came back from the store');
  });

  it('bounds the memory its entries take, not only their count; a result over the budget stays in the store only', async () => {
    const { store, reads } = settingsStore();
    const big = { ...result, stdout: 'x'.repeat(600) };
    const cache = new ExecCache({ store, maxChars: 1000 });
    await cache.set('a', big);
    await cache.set('b', big);
    let before = reads();
    await cache.get('b');
    assert.equal(reads(), before, '"b" is in memory');
    await cache.get('a');
    assert.equal(reads(), before + 1, '"a" was dropped to keep within 1000 characters');
    const huge = { ...result, stdout: 'y'.repeat(2000) };
    await cache.set('c', huge);
    before = reads();
    assert.deepEqual(await cache.get('c'), huge);
    assert.equal(reads(), before + 1, 'over the whole budget: read from the store');
  });

  it('stores a bounded number of results: inputs that vary only add misses, never rows', async () => {
    const { store, settings } = settingsStore();
    const cache = new ExecCache({ store, maxEntries: 1 });
    const keys = Array.from({ length: 3000 }, (_, i) => execCacheKey({ ...inputs, stdin: String(i) }));
    for (const key of keys) await cache.set(key, { ...result, stdout: key });
    assert.ok(settings.size <= EXEC_CACHE_SLOTS, `${settings.size} rows`);
    // A key whose slot another took since is a miss: never that other run's result.
    let hits = 0;
    for (const key of keys) {
      const found = await new ExecCache({ store }).get(key);
      if (found === undefined) continue;
      hits += 1;
      assert.equal(found.stdout, key);
    }
    assert.equal(hits, settings.size);
  });

  it('does not keep a result whose stored form is over the bound', async () => {
    const { store, settings } = settingsStore();
    const cache = new ExecCache({ store });
    const key = execCacheKey(inputs);
    await cache.set(key, { ...result, stdout: '\u0001'.repeat(MAX_STORED_RESULT_CHARS / 6) });
    assert.equal(settings.size, 0);
    assert.equal(await cache.get(key), undefined);
  });
});
