import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Invocation, MetadataStore } from '@faas/core';
import { sampleInvocation } from './samples.ts';

type GetStore = () => MetadataStore;

/**
 * `invocationStats`: counts, errors and nearest-rank percentiles per function, since a time;
 * `invocationTimeSeries`: the same per time bucket for one function.
 */
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

  it("counts one project's functions only when asked for a project", async () => {
    const now = Date.now();
    const at = new Date(now - 1_000).toISOString();
    await store().createInvocations([
      sampleInvocation({ functionName: 'team-a.f', project: 'team-a', createdAt: at, durationMs: 3 }),
      sampleInvocation({ functionName: 'team-b.f', project: 'team-b', createdAt: at, durationMs: 4 }),
    ]);
    assert.deepEqual(await store().invocationStats(now - 60_000, 'team-a'), [
      { functionName: 'team-a.f', calls: 1, errors: 0, coldStarts: 0, p50Ms: 3, p99Ms: 3 },
    ]);
    const all = (await store().invocationStats(now - 60_000)).map((s) => s.functionName);
    assert.ok(all.includes('team-a.f') && all.includes('team-b.f'), JSON.stringify(all));
  });

  it("buckets one function's invocations of one project over a range, with per-bucket percentiles", async () => {
    const minute = 60_000;
    const since = Date.parse('2030-02-01T00:00:00.000Z');
    const at = (ms: number) => new Date(since + ms).toISOString();
    const f = (createdMs: number, overrides: Partial<Invocation> = {}) =>
      sampleInvocation({ functionName: 'f', createdAt: at(createdMs), ...overrides });
    await store().createInvocations([
      // Bucket 0, its first instant included: durations 5..40, one failure.
      f(0, { durationMs: 30 }),
      f(1_000, { durationMs: 10 }),
      f(2_000, { durationMs: 40 }),
      f(3_000, { durationMs: 20 }),
      f(minute - 1, { durationMs: 5, status: 'failed' }),
      // Bucket 1 is empty. Bucket 2: errors of every kind, and a call still queued (no duration).
      f(2 * minute, { durationMs: 1_000, status: 'timed_out' }),
      f(2 * minute + 1, { status: 'out_of_memory' }),
      f(2 * minute + 2, { status: 'queued', mode: 'async' }),
      // Outside: before the range, at its end (exclusive), another function, another project.
      f(-1, { durationMs: 1 }),
      f(3 * minute, { durationMs: 1 }),
      sampleInvocation({ functionName: 'g', createdAt: at(0), durationMs: 1 }),
      f(0, { project: 'other', durationMs: 1, status: 'failed' }),
    ]);

    const series = await store().invocationTimeSeries({
      functionName: 'f',
      project: 'default',
      sinceMs: since,
      bucketMs: minute,
      buckets: 3,
    });
    assert.deepEqual(series, [
      { index: 0, calls: 5, errors: 1, p50Ms: 20, p99Ms: 40 },
      { index: 2, calls: 3, errors: 2, p50Ms: 1_000, p99Ms: 1_000 },
    ]);
    const other = await store().invocationTimeSeries({
      functionName: 'f',
      project: 'other',
      sinceMs: since,
      bucketMs: minute,
      buckets: 3,
    });
    assert.deepEqual(other, [{ index: 0, calls: 1, errors: 1, p50Ms: 1, p99Ms: 1 }]);
    // Hour buckets: everything of the range in bucket 0, the invocation before it still out.
    const hour = await store().invocationTimeSeries({
      functionName: 'f',
      project: 'default',
      sinceMs: since,
      bucketMs: 3_600_000,
      buckets: 1,
    });
    assert.deepEqual(
      hour.map((b) => [b.index, b.calls, b.errors]),
      [[0, 9, 3]],
    );
    assert.deepEqual(
      await store().invocationTimeSeries({
        functionName: 'nobody',
        project: 'default',
        sinceMs: since,
        bucketMs: minute,
        buckets: 60,
      }),
      [],
    );
  });
}
