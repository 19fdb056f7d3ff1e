import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FunctionVersion } from '@faas/core';
import { VersionCache } from './version-cache.ts';
import { versionDigest } from './version-digest.ts';

const version = (name: string, v: number, extra: Partial<FunctionVersion> = {}): FunctionVersion =>
  ({
    name,
    version: v,
    runtime: 'node',
    codeSha256: `code-${name}-${v}`,
    artifactSha256: `code-${name}-${v}`,
    codeSizeBytes: 10,
    createdAt: '2026-12-06T00:00:00.000Z',
    ...extra,
  }) as FunctionVersion;

describe('versionDigest', () => {
  it('names content: the same JSON has the same digest, other content another', () => {
    const a = version('f', 1);
    assert.equal(versionDigest(a), versionDigest(JSON.parse(JSON.stringify(a)) as FunctionVersion));
    assert.notEqual(
      versionDigest(a),
      versionDigest(version('f', 1, { createdAt: '2026-12-07T00:00:00.000Z' })),
    );
    assert.notEqual(versionDigest(a), versionDigest(version('f', 1, { env: { TOKEN: 'other' } })));
  });
});

describe('VersionCache', () => {
  it('keeps a version under the digest of its own content, whatever a caller calls it', () => {
    const cache = new VersionCache();
    const fn = version('f', 1);
    const digest = cache.put(fn);
    assert.equal(digest, versionDigest(fn));
    assert.equal(cache.get(digest), fn);
    assert.equal(cache.get('another'), undefined);
  });

  it('drops the least recently called version past its size', () => {
    const cache = new VersionCache(2);
    const [a, b, c] = [version('a', 1), version('b', 1), version('c', 1)];
    const da = cache.put(a);
    const db = cache.put(b);
    cache.get(da); // a is now the more recent
    const dc = cache.put(c);
    assert.equal(cache.size, 2);
    assert.equal(cache.get(db), undefined);
    assert.equal(cache.get(da), a);
    assert.equal(cache.get(dc), c);
  });

  it('forgets a retired version, or every version of a retired function', () => {
    const cache = new VersionCache();
    const [f1, f2, g1] = [version('f', 1), version('f', 2), version('g', 1)];
    const [d1, d2, dg] = [cache.put(f1), cache.put(f2), cache.put(g1)];
    cache.retire('f', 1);
    assert.equal(cache.get(d1), undefined);
    assert.equal(cache.get(d2), f2);
    cache.retire('f');
    assert.equal(cache.get(d2), undefined);
    assert.equal(cache.get(dg), g1);
  });
});
