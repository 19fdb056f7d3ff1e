import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { MetadataStore } from '@faas/core';
import { sampleInvocation } from './samples.ts';

type GetStore = () => MetadataStore;

/** `invocationStats`: counts, errors and nearest-rank percentiles per function, since a time. */
export function statsCases(store: GetStore): void {
  it('counts calls, errors and cold starts per function since a time, with nearest-rank p50 and p99 durations', async () => {
    const now = Date.now();
    const at = (msAgo: number) => new Date(now - msAgo).toISOString();
    const invocations = [
      // 100 calls of "busy" within the minute: durations 1..100 ms; 10 failed, 5 timed out.
      ...Array.from({ length: 100 }, (_, i) =>
        sampleInvocation({
          functionName: 'busy',
          createdAt: at(1_000 + i),
          durationMs: 100 - i,
          status: i < 10 ? 'failed' : i < 15 ? 'timed_out' : 'succeeded',
          // 3 cold starts; the others warm.
          coldStart: i % 40 === 0,
        }),
      ),
      // Refused before running: a call and an error, no duration.
      sampleInvocation({ functionName: 'busy', createdAt: at(500), status: 'failed' }),
      // Still queued: a call, not an error.
      sampleInvocation({ functionName: 'quiet', createdAt: at(2_000), status: 'queued', mode: 'async' }),
      sampleInvocation({ functionName: 'quiet', createdAt: at(3_000), durationMs: 7, coldStart: true }),
      // An hour ago: outside the last minute.
      sampleInvocation({ functionName: 'quiet', createdAt: at(3_600_000), durationMs: 1_000 }),
      sampleInvocation({ functionName: 'old', createdAt: at(7_200_000), status: 'dead_lettered' }),
    ];
    await store().createInvocations(invocations);

    const minute = await store().invocationStats(now - 60_000);
    assert.deepEqual(minute, [
      { functionName: 'busy', calls: 101, errors: 16, coldStarts: 3, p50Ms: 50, p99Ms: 99 },
      { functionName: 'quiet', calls: 2, errors: 0, coldStarts: 1, p50Ms: 7, p99Ms: 7 },
    ]);
    const day = await store().invocationStats(now - 86_400_000);
    assert.deepEqual(
      day.map((s) => [s.functionName, s.calls, s.errors, s.coldStarts, s.p50Ms, s.p99Ms]),
      [
        ['busy', 101, 16, 3, 50, 99],
        ['old', 1, 1, 0, undefined, undefined],
        ['quiet', 3, 0, 1, 7, 1_000],
      ],
    );
    assert.ok(!('p50Ms' in (day[1] as object)), 'no duration: no percentile, not null');
    assert.deepEqual(await store().invocationStats(now + 1_000), []);
  });
}
