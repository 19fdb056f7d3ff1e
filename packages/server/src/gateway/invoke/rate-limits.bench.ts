/**
 * Quick measurement of what rate limits cost an invoking request (not a test): with no limit
 * configured, the pipeline's check (`bucketsFor`) reads a few properties and looks at no bucket;
 * with limits, one compare-and-swap per bucket in shared memory (rate-bucket-table.ts).
 * Redis adds a round trip per limited request, measured by the integration test's server, not here.
 * Run: node packages/server/src/gateway/invoke/rate-limits.bench.ts
 */
import type { ApiKeyRecord, Bucket, FunctionVersion } from '@faas/core';
import { MemoryRateBuckets } from '../../control/rate-limits/rate-buckets.ts';
import type { InvokeTarget, RequestHead } from './invoke-target.ts';
import { InvokeRateLimits } from './rate-limits.ts';

const fn = { name: 'f', project: 'default', public: false } as FunctionVersion;
// Never refuses within the loop: the cost measured is an allowed request's.
const limited = { ...fn, rateLimit: { requestsPerSecond: 1e6, burst: 1_000_000 } } as FunctionVersion;
const publicLimited = { ...limited, public: true } as FunctionVersion;
const key = { id: 'key_1', rateLimit: { requestsPerSecond: 1e6, burst: 1_000_000 } } as ApiKeyRecord;
const api: InvokeTarget = { kind: 'api', rawRef: 'f', query: '' };
const http: InvokeTarget = { kind: 'http', name: 'f', declared: false, path: '/', params: {}, query: '' };
const head: RequestHead = {
  method: 'POST',
  url: '/api/v1/functions/f/invoke',
  headers: {},
  remoteAddress: '10.1.2.3',
};

const limits = new InvokeRateLimits(new MemoryRateBuckets(), {
  publicRule: { requestsPerSecond: 1e6, burst: 1_000_000 },
});

/** What InvokePipeline.#limit does for one request. */
function check(
  request: { target: InvokeTarget; head: RequestHead; apiKey?: ApiKeyRecord },
  f: FunctionVersion,
) {
  // The projects' limits are not configured here: bucketsFor answers at once.
  const buckets = limits.bucketsFor(request, f) as Bucket[] | undefined;
  return buckets ? limits.take(buckets) : undefined;
}

function measure(name: string, runs: number, work: () => unknown): void {
  let kept: unknown;
  for (let i = 0; i < Math.min(runs, 100_000); i++) kept = work();
  const started = performance.now();
  for (let i = 0; i < runs; i++) kept = work();
  const ns = ((performance.now() - started) * 1e6) / runs;
  console.log(`${name.padEnd(52)} ${ns.toFixed(0).padStart(7)} ns${kept === 0 ? '' : ''}`);
}

measure('no limit configured', 5_000_000, () => check({ target: api, head }, fn));
measure('function limit', 1_000_000, () => check({ target: api, head }, limited));
measure('function + key limits', 1_000_000, () => check({ target: api, head, apiKey: key }, limited));
measure('public trigger: address + key + function limits', 1_000_000, () =>
  check({ target: http, head, apiKey: key }, publicLimited),
);
