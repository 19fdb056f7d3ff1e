// Cold starts on a real server: after a restart nothing of a function is warm, so its first call
// waits for a new isolate (js, in an isolate host process) or container (node) and is recorded as
// a cold start; the next call reuses it. The record, /metrics and /api/v1/stats all say so. A
// deploy loads what it stores, so a function's first call after its deploy is warm.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Invocation } from '@faas/core';
import { engineSkipReason } from '../support/engine.ts';
import { startTestServer, type TestServer, tempDataDir } from '../support/server.ts';

interface WindowStats {
  calls: number;
  coldStarts: number;
}

async function invoke(s: TestServer, name: string): Promise<Invocation> {
  const res = await s.api(`/api/v1/functions/${name}/invoke`, { method: 'POST', json: {} });
  assert.equal(res.status, 200, await res.clone().text());
  const id = res.headers.get('x-invocation-id');
  const record = await s.api(`/api/v1/invocations/${id}`);
  assert.equal(record.status, 200);
  return (await record.json()) as Invocation;
}

/** The value of one sample of /metrics, by its exact name and labels. */
async function sample(s: TestServer, series: string): Promise<number | undefined> {
  const text = await (await s.api('/metrics')).text();
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

async function minuteStats(s: TestServer, name: string): Promise<WindowStats | undefined> {
  const answer = (await (await s.api('/api/v1/stats')).json()) as {
    items: Array<{ functionName: string; minute?: WindowStats }>;
  };
  return answer.items.find((i) => i.functionName === name)?.minute;
}

/**
 * Deploys `name` (which warms an instance of it), then restarts the server on the same data dir:
 * the restarted server has nothing warm.
 */
async function deployedThenRestarted(
  dataDir: string,
  name: string,
  runtime: string,
  code: string,
): Promise<TestServer> {
  const first = await startTestServer({}, dataDir);
  const deployed = await first.api('/api/v1/functions', { method: 'POST', json: { name, runtime, code } });
  assert.equal(deployed.status, 201, await deployed.clone().text());
  await first.server.close();
  return startTestServer({}, dataDir);
}

async function firstColdThenWarm(s: TestServer, name: string, runtime: string): Promise<void> {
  const first = await invoke(s, name);
  const second = await invoke(s, name);
  assert.equal(first.coldStart, true, 'the first call after a restart waited for a new instance');
  assert.equal(second.coldStart, false, 'the second reused it');
  assert.equal(await sample(s, `faas_cold_starts_total{function="${name}",runtime="${runtime}"}`), 1);
  const stats = await minuteStats(s, name);
  assert.equal(stats?.calls, 2);
  assert.equal(stats?.coldStarts, 1);
}

describe('cold starts of a js function', () => {
  const dataDir = tempDataDir();
  let s: TestServer;
  before(async () => {
    s = await deployedThenRestarted(dataDir, 'cold-js', 'js', 'export default () => ({ ok: true })');
  });
  after(async () => {
    await s.server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('records the first call after a restart as cold and the next as warm', async () => {
    await firstColdThenWarm(s, 'cold-js', 'js');
  });

  it('a deploy loads the new version, so its first call is warm', async () => {
    const code = 'export default () => ({ ok: true })';
    const made = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'warm-js', runtime: 'js', code },
    });
    assert.equal(made.status, 201);
    assert.equal((await invoke(s, 'warm-js')).coldStart, false);
    const updated = await s.api('/api/v1/functions/warm-js', { method: 'PATCH', json: { timeoutMs: 5000 } });
    assert.equal(updated.status, 200, await updated.clone().text());
    assert.equal((await invoke(s, 'warm-js')).coldStart, false, 'a new version too');
  });
});

describe('cold starts of a node function', { skip: engineSkipReason() }, () => {
  const dataDir = tempDataDir();
  let s: TestServer;
  before(async () => {
    s = await deployedThenRestarted(dataDir, 'cold-node', 'node', 'export default () => ({ ok: true })');
  });
  after(async () => {
    await s.server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('records the first call after a restart as cold and the next as warm', async () => {
    await firstColdThenWarm(s, 'cold-node', 'node');
  });
});
