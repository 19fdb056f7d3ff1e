import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, type Invocation, TERMINAL_STATUSES } from '@faas/core';
import { engineSkipReason } from '../support/engine.ts';
import { startTestServer, type TestServer, tempDataDir, waitFor } from '../support/server.ts';

const NODE_CODE = 'export default async (event) => event;';

// Deploys prepare container versions, so a deploy needs the engine: the functions are deployed
// while it answers, then the server restarts on the same data dir with no engine.
describe('calls refused because their runtime is down are recorded', { skip: engineSkipReason() }, () => {
  let s: TestServer;
  before(async () => {
    const dataDir = tempDataDir();
    const withEngine = await startTestServer({}, dataDir);
    const deploy = async (name: string, extra: Record<string, unknown> = {}) => {
      const res = await withEngine.api('/api/v1/functions', {
        method: 'POST',
        json: { name, runtime: 'node', code: NODE_CODE, ...extra },
      });
      assert.equal(res.status, 201, await res.clone().text());
    };
    await deploy('no-engine-sync');
    await deploy('no-engine-async', { maxRetries: 1 });
    await withEngine.server.close();
    s = await startTestServer(
      { dockerHost: 'unix:///nonexistent.sock', retryBaseDelayMs: 10, queuePollMs: 50 },
      dataDir,
    );
  });
  after(() => s?.close());

  it('a sync call answers 503 naming its invocation, which reads back as failed with that error', async () => {
    const res = await s.api('/api/v1/functions/no-engine-sync/invoke', { method: 'POST', json: { n: 1 } });
    assert.equal(res.status, 503);
    const { error } = (await res.json()) as { error: { code: string; details: { invocationId: string } } };
    assert.equal(error.code, ErrorCode.RUNTIME_UNAVAILABLE);
    const id = error.details.invocationId;
    assert.match(id, /^inv_/);
    const inv = (await (await s.api(`/api/v1/invocations/${id}`)).json()) as Invocation;
    assert.equal(inv.status, 'failed');
    assert.equal(inv.functionName, 'no-engine-sync');
    assert.equal(inv.error?.type, ErrorCode.RUNTIME_UNAVAILABLE);
    const listed = (await (await s.api('/api/v1/invocations?functionName=no-engine-sync')).json()) as {
      items: Invocation[];
    };
    assert.deepEqual(
      listed.items.map((i) => i.id),
      [id],
    );
  });

  it('an async call ends dead-lettered with that error once its retries are spent', async () => {
    const res = await s.api('/api/v1/functions/no-engine-async/invoke?async=true', {
      method: 'POST',
      json: {},
    });
    assert.equal(res.status, 202);
    const { invocationId } = (await res.json()) as { invocationId: string };
    const inv = await waitFor(
      async () => {
        const got = (await (await s.api(`/api/v1/invocations/${invocationId}`)).json()) as Invocation;
        return TERMINAL_STATUSES.has(got.status) ? got : undefined;
      },
      15_000,
      'the async invocation to end',
    );
    assert.equal(inv.status, 'dead_lettered');
    assert.equal(inv.attempts, 2);
    assert.equal(inv.error?.type, ErrorCode.RUNTIME_UNAVAILABLE);
    assert.ok(inv.finishedAt);
  });
});
