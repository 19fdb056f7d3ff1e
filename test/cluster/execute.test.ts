// Execute through a gateway: each run is sent to a worker and answered as a single server answers
// it (results, streams, errors and limits); the cached mode's results are in PostgreSQL, and a
// checkpointed run's snapshot is in S3, so a branch of it runs on another worker.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import {
  CLUSTER_SECRET,
  type ClusterNode,
  clusterSkipReason,
  startTestCluster,
  type TestCluster,
} from '../support/cluster.ts';
import { engineSkipReason } from '../support/engine.ts';
import { ADMIN_KEY, request } from '../support/server.ts';

const skip = clusterSkipReason() || engineSkipReason();

interface Answer {
  stdout: string;
  stderr: string;
  exit_code: number;
  mode: string;
  cache?: string;
  execution_id?: string;
  snapshot_id?: string;
  error?: { code: string; message: string };
}

describe('execute through a gateway', { skip }, () => {
  let cluster: TestCluster;
  let gateway: ClusterNode;
  let first: ClusterNode;
  /** The worker the branch test leaves running. */
  let workerLeft: ClusterNode | undefined;
  const settings = { FAAS_WORKER_TIMEOUT_MS: '2000' };

  before(async () => {
    cluster = await startTestCluster();
    gateway = await cluster.start('gateway', settings);
    // The worker's own bound, tighter than the gateway's default: the worker's limits apply.
    first = await cluster.start('worker', { ...settings, FAAS_INSTANCE_MAX_MEMORY_MB: '1024' });
  });
  after(async () => {
    await cluster?.close();
  });

  const run = async (body: unknown, path = '/api/v1/execute') => {
    const res = await request(gateway.url, path, { method: 'POST', json: body });
    return { status: res.status, body: (await res.json()) as Answer };
  };

  it('runs ephemeral commands on a worker with the same answer, stream and errors as one server', async () => {
    const plain = await run({
      command: 'cat in.txt; printf "%s" "$GREETING"; echo err >&2; exit 3',
      files: { 'in.txt': 'file\n' },
      env: { GREETING: 'hi' },
    });
    assert.equal(plain.status, 200, JSON.stringify(plain.body));
    assert.equal(plain.body.stdout, 'file\nhi');
    assert.equal(plain.body.stderr, 'err\n');
    assert.equal(plain.body.exit_code, 3);
    assert.equal(plain.body.mode, 'ephemeral');

    const streamed = await request(gateway.url, '/api/v1/execute?stream=true', {
      method: 'POST',
      json: { command: 'echo one; sleep 0.2; echo two; exit 4' },
    });
    assert.equal(streamed.status, 200);
    assert.match(streamed.headers.get('content-type') ?? '', /ndjson/);
    const lines = (await streamed.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; data?: string; exit_code?: number });
    assert.equal(
      lines
        .filter((l) => l.type === 'stdout')
        .map((l) => l.data)
        .join(''),
      'one\ntwo\n',
    );
    assert.deepEqual(lines.at(-1)?.type, 'exit');
    assert.equal(lines.at(-1)?.exit_code, 4);

    // The worker's errors keep their code and status.
    const noImage = await run({ command: 'true', image: 'faas-test/no-such-image:1' });
    assert.equal(noImage.status, 400);
    assert.equal(noImage.body.error?.code, 'FAAS_ERR_BAD_REQUEST');
    const unknown = await run(
      { command: 'true', mode: 'checkpointed', checkpoint: 'snap_missing' },
      '/api/v1/execute/advanced',
    );
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error?.code, 'FAAS_ERR_NOT_FOUND');
    const tooBig = await run({ command: 'true', memory_mb: 2048 });
    assert.equal(tooBig.status, 422, JSON.stringify(tooBig.body));
    assert.match(tooBig.body.error?.message ?? '', /bound of 1024 \(FAAS_INSTANCE_MAX_MEMORY_MB\)/);
    // The worker's side takes the cluster secret only, and a body that is no run is a 422.
    const internal = (authorization: string, body: unknown) =>
      fetch(`${first.url}/internal/v1/execute`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization },
        body: JSON.stringify(body),
      });
    const call = { request: { project: 'default', command: 'true' }, mode: 'ephemeral', stream: false };
    assert.equal((await internal(`Bearer ${ADMIN_KEY}`, call)).status, 401);
    for (const bad of [{}, { ...call, mode: 'persistent' }, { ...call, request: { command: 'true' } }]) {
      const refused = await internal(`Cluster ${CLUSTER_SECRET}`, bad);
      assert.equal(refused.status, 422, await refused.text());
    }
  });

  it('answers a cached run from the shared store the second time', async () => {
    const body = { command: `echo ${Date.now()}-$RANDOM`, mode: 'cached' };
    const miss = await run(body, '/api/v1/execute/advanced');
    assert.equal(miss.status, 200, JSON.stringify(miss.body));
    assert.equal(miss.body.cache, 'miss');
    const hit = await run(body, '/api/v1/execute/advanced');
    assert.equal(hit.body.cache, 'hit');
    assert.equal(hit.body.stdout, miss.body.stdout, 'the stored output, not a second run');
  });

  it('branches a checkpointed run on another worker once the first is gone', async () => {
    const checkpointed = await run(
      { command: 'echo 41 > /workspace/state; cat /workspace/state', mode: 'checkpointed' },
      '/api/v1/execute/advanced',
    );
    assert.equal(checkpointed.status, 200, JSON.stringify(checkpointed.body));
    assert.equal(checkpointed.body.stdout, '41\n');
    const snapshot = checkpointed.body.snapshot_id;
    assert.ok(snapshot, JSON.stringify(checkpointed.body));

    const second = await cluster.start('worker', settings);
    // SIGTERM: the first worker drains (no new work placed there), leaves the registry, then exits.
    const exited = once(first.child, 'exit');
    first.child.kill('SIGTERM');
    await exited;
    const branched = await run(
      { command: 'echo $(( $(cat /workspace/state) + 1 ))', mode: 'branched', parent: snapshot },
      '/api/v1/execute/advanced',
    );
    assert.equal(branched.status, 200, JSON.stringify(branched.body));
    assert.equal(
      branched.body.stdout,
      '42\n',
      'the snapshot taken on the first worker, restored on the second',
    );
    assert.equal(second.child.exitCode, null);
    workerLeft = second;
  });

  it('ends a run whose worker dies with FAAS_ERR_WORKER_LOST, never a hang', async () => {
    const res = await request(gateway.url, '/api/v1/execute?stream=true', {
      method: 'POST',
      json: { command: 'echo started; sleep 60', timeout_ms: 90_000 },
    });
    assert.equal(res.status, 200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    // The command runs on the only worker left once its first output came back.
    while (!text.includes('started')) {
      const { value, done } = await reader.read();
      assert.ok(!done, text);
      text += decoder.decode(value, { stream: true });
    }
    await (workerLeft as ClusterNode).kill('SIGKILL');
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    const last = JSON.parse(text.trim().split('\n').at(-1) as string) as {
      type: string;
      error?: { code: string };
    };
    assert.equal(last.type, 'error', text);
    assert.equal(last.error?.code, 'FAAS_ERR_WORKER_LOST');
  });
});
