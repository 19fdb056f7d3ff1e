// The execute API's and instances' metrics on a real server with Docker: runs by mode, cached-mode
// cache hits and misses, instances by state, the durations of a snapshot and a restore, the
// containers by runtime and role, and restores served from a standby or cold.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { engineSkipReason } from '../support/engine.ts';
import { startTestServer, type TestServer, waitFor } from '../support/server.ts';

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
    const restored = await post(`/api/v1/snapshots/${snapshot.id}/restore`, {});
    const text = await (await s.api('/metrics')).text();
    assert.equal(sample(text, 'faas_instances{state="running"}'), 2, 'the instance and its restored copy');
    const kind = String(snapshot.kind);
    assert.equal(sample(text, `faas_snapshot_duration_seconds_count{kind="${kind}"}`), 1);
    assert.ok((sample(text, `faas_snapshot_duration_seconds_sum{kind="${kind}"}`) ?? 0) > 0);
    assert.equal(sample(text, `faas_restore_duration_seconds_count{kind="${kind}"}`), 1);
    assert.ok((sample(text, `faas_restore_duration_seconds_sum{kind="${kind}"}`) ?? 0) > 0);
    // Not left running (for ten minutes, beside the rest of the run) once the server is gone.
    for (const { id } of [instance, restored]) {
      assert.equal((await s.api(`/api/v1/instances/${id}`, { method: 'DELETE' })).status, 204);
    }
  });

  it('counts containers by runtime and role, and restores served from a standby or cold', async () => {
    const metrics = async () => (await s.api('/metrics')).text();
    /** Waits until the series reads `want`; a role's count moves as background work settles. */
    const reaches = (series: string, want: number) =>
      waitFor(
        async () => (sample(await metrics(), series) === want ? true : undefined),
        60_000,
        `${series} to be ${want}`,
      );
    const containers = (runtime: string, role: string) =>
      `faas_containers{runtime="${runtime}",role="${role}"}`;

    const deployed = await s.api('/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'napper',
        runtime: 'node',
        code: 'export default async (e) => { await new Promise((r) => setTimeout(r, e.ms)); return e.ms; }',
      },
    });
    assert.equal(deployed.status, 201, await deployed.text());
    const invoke = (ms: number) => s.api('/api/v1/functions/napper/invoke', { method: 'POST', json: { ms } });
    assert.equal((await invoke(0)).status, 200);
    await reaches(containers('runc', 'idle'), 1);
    assert.equal(sample(await metrics(), containers('runc', 'busy')), 0);
    const napping = invoke(4000);
    await reaches(containers('runc', 'busy'), 1);
    assert.equal((await napping).status, 200);
    await reaches(containers('runc', 'busy'), 0);

    const sleeping = s.api('/api/v1/execute', { method: 'POST', json: { command: 'sleep 4' } });
    await reaches(containers('runc', 'sandbox_busy'), 1);
    assert.equal((await sleeping).status, 200);
    await reaches(containers('runc', 'sandbox_busy'), 0);

    // A memory snapshot keeps two paused standbys; a fork of 3 takes both and restores one cold.
    const instance = await post('/api/v1/instances', { command: 'sleep 600', isolation: 'gvisor' });
    await reaches(containers('gvisor', 'instance'), 1);
    const snapshot = await post('/api/v1/snapshots', { instance_id: instance.id });
    assert.equal(snapshot.kind, 'memory');
    await reaches(containers('gvisor', 'standby'), 2);
    const before = await metrics();
    assert.equal(sample(before, 'faas_instance_restores_total{source="standby"}'), 0);
    assert.equal(sample(before, 'faas_instance_restores_total{source="cold"}'), 0);
    const fork = await post(`/api/v1/snapshots/${snapshot.id}/fork`, { count: 3 });
    assert.equal((fork.instances as unknown[]).length, 3);
    const after = await metrics();
    assert.equal(sample(after, 'faas_instance_restores_total{source="standby"}'), 2);
    assert.equal(sample(after, 'faas_instance_restores_total{source="cold"}'), 1);
    assert.equal(sample(after, containers('gvisor', 'instance')), 4, 'the source and its three forks');
    for (const { id } of [instance, ...(fork.instances as { id: string }[])]) {
      assert.equal((await s.api(`/api/v1/instances/${id}`, { method: 'DELETE' })).status, 204);
    }
  });
});
