// GET /api/v1/functions/{name}/stats against a real server: one function's calls, errors and
// p50/p99 durations over the last hour by minute and the last day by hour, read from the store.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FaaSClient, FaasApiError } from '@faas/sdk';
import { ADMIN_KEY, startTestServer, type TestServer } from '../support/server.ts';

interface Bucket {
  start: string;
  calls: number;
  errors: number;
  p50Ms?: number;
  p99Ms?: number;
}
interface Series {
  functionName: string;
  window: string;
  bucketMs: number;
  generatedAt: string;
  buckets: Bucket[];
}

describe('GET /api/v1/functions/{name}/stats', () => {
  let server: TestServer;
  const get = async (path: string) => {
    const res = await server.api(path);
    return {
      status: res.status,
      body: (await res.json()) as Series & { error?: { code: string; message: string } },
    };
  };

  before(async () => {
    server = await startTestServer();
    for (const [name, code] of [
      ['series-flaky', 'export default (e) => { if (e.fail) throw new Error("no"); return 1 }'],
      ['series-other', 'export default () => 1'],
    ]) {
      const res = await server.api('/api/v1/functions', {
        method: 'POST',
        json: { name, runtime: 'js', code },
      });
      assert.equal(res.status, 201, await res.text());
    }
    for (const fail of [false, true, false, true, false]) {
      const res = await server.api('/api/v1/functions/series-flaky/invoke', {
        method: 'POST',
        json: { fail },
      });
      await res.text();
    }
    await (await server.api('/api/v1/functions/series-other/invoke', { method: 'POST', json: {} })).text();
  });
  after(async () => {
    await server.close();
  });

  it('answers 60 one-minute buckets by default, every invocation of this function counted at once', async () => {
    const { status, body } = await get('/api/v1/functions/series-flaky/stats');
    assert.equal(status, 200);
    assert.equal(body.functionName, 'series-flaky');
    assert.equal(body.window, 'hour');
    assert.equal(body.bucketMs, 60_000);
    assert.equal(body.buckets.length, 60);
    for (const [i, bucket] of body.buckets.entries()) {
      const start = Date.parse(bucket.start);
      assert.equal(start % 60_000, 0, 'edges on whole minutes');
      if (i > 0) assert.equal(start - Date.parse(body.buckets[i - 1]?.start as string), 60_000);
    }
    // The current minute is last: it holds the invocations just made (a minute boundary may
    // fall between them, so the last two are summed).
    const last = Date.parse(body.buckets.at(-1)?.start as string);
    assert.ok(last <= Date.parse(body.generatedAt) && Date.parse(body.generatedAt) < last + 60_000);
    const sum = (key: 'calls' | 'errors') => body.buckets.reduce((n, b) => n + b[key], 0);
    assert.equal(sum('calls'), 5, 'the other function is not counted');
    assert.equal(sum('errors'), 2);
    const busy = body.buckets.filter((b) => b.calls > 0);
    assert.ok(busy.length >= 1 && busy.length <= 2);
    for (const b of busy) assert.ok((b.p50Ms ?? -1) >= 0 && (b.p99Ms ?? -1) >= (b.p50Ms ?? 0));
    const empty = body.buckets[0] as Bucket;
    assert.deepEqual(
      Object.keys(empty).sort(),
      ['calls', 'errors', 'start'],
      'no percentile without a duration',
    );
  });

  it('answers 24 one-hour buckets for window=day', async () => {
    const { status, body } = await get('/api/v1/functions/series-flaky/stats?window=day');
    assert.equal(status, 200);
    assert.equal(body.window, 'day');
    assert.equal(body.bucketMs, 3_600_000);
    assert.equal(body.buckets.length, 24);
    assert.equal(Date.parse(body.buckets[0]?.start as string) % 3_600_000, 0);
    const last = Date.parse(body.buckets.at(-1)?.start as string);
    assert.ok(last <= Date.parse(body.generatedAt) && Date.parse(body.generatedAt) < last + 3_600_000);
    assert.equal(
      body.buckets.reduce((n, b) => n + b.calls, 0),
      5,
    );
    assert.equal(
      body.buckets.reduce((n, b) => n + b.errors, 0),
      2,
    );
  });

  it('answers 400 FAAS_ERR_BAD_REQUEST for any other window: prototype names, a repeat, a long one', async () => {
    for (const window of [
      'week',
      'constructor',
      '__proto__',
      'HOUR',
      '',
      '%00',
      'x'.repeat(4000),
      'hour&window=day',
    ]) {
      const { status, body } = await get(`/api/v1/functions/series-flaky/stats?window=${window}`);
      assert.equal(status, 400, window);
      assert.equal(body.error?.code, 'FAAS_ERR_BAD_REQUEST', window);
      assert.ok((body.error?.message ?? '').length < 100, 'the message does not echo it all');
    }
  });

  it('answers 404 for a function that does not exist', async () => {
    const { status, body } = await get('/api/v1/functions/nobody-here/stats');
    assert.equal(status, 404);
    assert.equal(body.error?.code, 'FAAS_ERR_FUNCTION_NOT_FOUND');
  });

  it("the SDK's functionStats reads it, and its errors are FaasApiError", async () => {
    const client = new FaaSClient({ baseUrl: server.url, apiKey: ADMIN_KEY });
    const hour = await client.functionStats('series-flaky');
    assert.equal(hour.buckets.length, 60);
    assert.equal(
      hour.buckets.reduce((n, b) => n + b.calls, 0),
      5,
    );
    const day = await client.functionStats('series-flaky', 'day');
    assert.equal(day.window, 'day');
    assert.equal(day.buckets.length, 24);
    await assert.rejects(
      client.functionStats('nobody-here'),
      (e: unknown) => e instanceof FaasApiError && e.code === 'FAAS_ERR_FUNCTION_NOT_FOUND',
    );
  });

  it('needs an API key', async () => {
    const res = await server.api('/api/v1/functions/series-flaky/stats', { key: null });
    assert.equal(res.status, 401);
    await res.text();
  });
});
