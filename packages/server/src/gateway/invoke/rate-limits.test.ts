import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FunctionVersion, RateDecision, RateLimit } from '@faas/core';
import { MemoryRateBuckets } from '../../control/rate-limits/rate-buckets.ts';
import { rateLimited } from '../../control/rate-limits/rate-limited.ts';
import type { InvokeTarget, RequestHead } from './invoke-target.ts';
import { InvokeRateLimits } from './rate-limits.ts';

const target: InvokeTarget = { kind: 'api', rawRef: 'hook', query: '' };
const head: RequestHead = { method: 'POST', url: '/', headers: {}, remoteAddress: '10.1.2.3' };

function version(rateLimit?: RateLimit, version = 1): FunctionVersion {
  return {
    name: 'team-a.hook',
    project: 'team-a',
    version,
    ...(rateLimit ? { rateLimit } : {}),
  } as FunctionVersion;
}

function call(limits: InvokeRateLimits, fn: FunctionVersion): string {
  const buckets = limits.bucketsFor({ target, head }, fn);
  assert.ok(Array.isArray(buckets));
  const decision = limits.take(buckets) as RateDecision;
  return decision.allowed ? 'allowed' : rateLimited(decision).message;
}

describe('InvokeRateLimits', () => {
  const slow = { requestsPerSecond: 0.01, burst: 1 };
  const fast = { requestsPerSecond: 1000, burst: 1000 };

  it("a function's raised limit holds at once, not after the tat the old, slower rate left", () => {
    const limits = new InvokeRateLimits(new MemoryRateBuckets());
    assert.equal(call(limits, version(slow)), 'allowed');
    assert.match(call(limits, version(slow)), /Rate limit reached \(function\)/);
    assert.equal(call(limits, version(fast, 2)), 'allowed');
  });

  it("a project's raised limit holds at once", () => {
    let rule: RateLimit = slow;
    const limits = new InvokeRateLimits(new MemoryRateBuckets(), { projects: { get: () => rule } });
    assert.equal(call(limits, version()), 'allowed');
    assert.match(call(limits, version()), /Rate limit reached \(project\)/);
    rule = { ...fast };
    assert.equal(call(limits, version()), 'allowed');
  });

  it("the same rule keeps one bucket (a project's rule read again is a new object)", () => {
    let rule: RateLimit = { ...slow };
    const limits = new InvokeRateLimits(new MemoryRateBuckets(), { projects: { get: () => rule } });
    assert.equal(call(limits, version()), 'allowed');
    rule = { ...slow };
    assert.match(call(limits, version()), /Rate limit reached \(project\)/);
    assert.match(call(limits, version({ ...slow })), /Rate limit reached \(project\)/);
  });
});
