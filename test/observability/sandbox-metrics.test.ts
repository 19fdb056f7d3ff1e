// The execute API's and instances' metrics on a real server with Docker: runs by mode, cached-mode
// cache hits and misses, instances by state, and the durations of a snapshot and a restore.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { engineSkipReason } from '../support/engine.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/** The value of one sample of /metrics, by its exact name and labels. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

describe('execute and instance metrics', { skip: engineSkipReason() }, () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => {
    await s.close();
  });

  const post = async (path: string, json: unknown) => {
    const res = await s.api(path, { method: 'POST', json });
    const body = (await res.json()) as Record<string, unknown>;
    assert.ok(res.status < 300, `${path}: ${res.status} ${JSON.stringify(body)}`);
    return body;
  };

  it('counts execute runs by mode and cache lookups by result', async () => {
    await post('/api/v1/execute', { command: 'echo once' });
    const command = `echo cached ${Date.now()}`;
    assert.equal((await post('/api/v1/execute/advanced', { command, mode: 'cached' })).cache, 'miss');
    assert.equal((await post('/api/v1/execute/advanced', { command, mode: 'cached' })).cache, 'hit');
    const text = await (await s.api('/metrics')).text();
    assert.equal(sample(text, 'faas_execute_runs_total{mode="ephemeral"}'), 1);
    assert.equal(sample(text, 'faas_execute_runs_total{mode="cached"}'), 2);
    assert.equal(sample(text, 'faas_execute_cache_lookups_total{result="hit"}'), 1);
    assert.equal(sample(text, 'faas_execute_cache_lookups_total{result="miss"}'), 1);
  });

  it('shows instances by state and times a snapshot and a restore', async () => {
    const before = await (await s.api('/metrics')).text();
    assert.equal(sample(before, 'faas_instances{state="running"}'), 0);
    const instance = await post('/api/v1/instances', { command: 'sleep 600' });
    const snapshot = await post('/api/v1/snapshots', { instance_id: instance.id });
    await post(`/api/v1/snapshots/${snapshot.id}/restore`, {});
    const text = await (await s.api('/metrics')).text();
    assert.equal(sample(text, 'faas_instances{state="running"}'), 2, 'the instance and its restored copy');
    const kind = String(snapshot.kind);
    assert.equal(sample(text, `faas_snapshot_duration_seconds_count{kind="${kind}"}`), 1);
    assert.ok((sample(text, `faas_snapshot_duration_seconds_sum{kind="${kind}"}`) ?? 0) > 0);
    assert.equal(sample(text, `faas_restore_duration_seconds_count{kind="${kind}"}`), 1);
    assert.ok((sample(text, `faas_restore_duration_seconds_sum{kind="${kind}"}`) ?? 0) > 0);
  });
});
