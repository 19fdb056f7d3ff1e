import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProjectRecord, RateLimit } from '@faas/core';
import { PROJECT_LIMIT_TTL_MS, ProjectRateLimits } from './project-rate-limits.ts';

describe('ProjectRateLimits', () => {
  it('reads a project once, answers from memory, and reads again in the background after the TTL', async () => {
    let now = 1_000;
    let stored: RateLimit | undefined = { requestsPerSecond: 1, burst: 2 };
    let reads = 0;
    const store = {
      getProject: async (name: string): Promise<ProjectRecord | undefined> => {
        reads++;
        return { name, createdAt: '', ...(stored ? { rateLimit: stored } : {}) };
      },
    };
    const limits = new ProjectRateLimits(store, () => now);
    const first = limits.get('p');
    assert.ok(first instanceof Promise, 'not known yet: read');
    assert.deepEqual(await first, { requestsPerSecond: 1, burst: 2 });
    assert.deepEqual(limits.get('p'), { requestsPerSecond: 1, burst: 2 }, 'known: at once');
    assert.equal(reads, 1);

    stored = undefined;
    now += PROJECT_LIMIT_TTL_MS;
    assert.deepEqual(limits.get('p'), { requestsPerSecond: 1, burst: 2 }, 'stale: answered as known…');
    await new Promise((r) => setImmediate(r));
    assert.equal(reads, 2, '…and read again');
    assert.equal(limits.get('p'), undefined);

    stored = { requestsPerSecond: 5, burst: 5 };
    limits.forget('p');
    assert.deepEqual(await limits.get('p'), stored, 'forgotten (a change on this server): read at once');
  });
  it('replace: takes in the projects another server changed at once, without reading the store', async () => {
    let reads = 0;
    const store = {
      getProject: async (name: string): Promise<ProjectRecord | undefined> => {
        reads++;
        return { name, createdAt: '', rateLimit: { requestsPerSecond: 1, burst: 1 } };
      },
    };
    const limits = new ProjectRateLimits(store, Date.now, 3_600_000);
    assert.deepEqual(await limits.get('p'), { requestsPerSecond: 1, burst: 1 });
    limits.replace([
      { name: 'p', createdAt: '' },
      { name: 'q', createdAt: '', rateLimit: { requestsPerSecond: 9, burst: 9 } },
    ]);
    assert.equal(limits.get('p'), undefined, 'its limit was removed elsewhere: at once');
    assert.deepEqual(limits.get('q'), { requestsPerSecond: 9, burst: 9 });
    assert.equal(reads, 1);
  });
});
