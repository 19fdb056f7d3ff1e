import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FetchBound } from './fetch-bound.ts';

describe('FetchBound', () => {
  it('refuses work past its bound at once, and takes more once some finishes', async () => {
    const bound = new FetchBound(2);
    const releases: Array<() => void> = [];
    const held = () =>
      bound.run(() => new Promise<string>((resolve) => releases.push(() => resolve('done'))));
    const first = held();
    const second = held();
    await assert.rejects(
      bound.run(async () => 'third'),
      /more than 2 blob fetches in flight/,
    );
    releases[0]?.();
    assert.equal(await first, 'done');
    assert.equal(await bound.run(async () => 'after'), 'after');
    releases[1]?.();
    assert.equal(await second, 'done');
  });

  it('a failing piece of work frees its place', async () => {
    const bound = new FetchBound(1);
    await assert.rejects(
      bound.run(() => Promise.reject(new Error('S3 down'))),
      /S3 down/,
    );
    assert.equal(await bound.run(async () => 'next'), 'next');
  });
});
