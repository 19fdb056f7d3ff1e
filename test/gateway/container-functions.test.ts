import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Invocation, type LogLine, TERMINAL_STATUSES } from '@faas/core';
import { buildImagesForTests } from '../container/support.ts';
import { engineSkipReason } from '../support/engine.ts';
import { startTestServer, type TestServer, waitFor } from '../support/server.ts';

const NODE_CODE = `export default async (event, context) => {
  console.log('node got', event.n);
  return { doubled: event.n * 2, fn: context.functionName, runtime: 'node' };
};`;

const PYTHON_CODE = `def handler(event, context):
    print("python got", event["n"])
    return {"tripled": event["n"] * 3, "runtime": "python"}
`;

type InvocationWithLogs = Invocation & { logs: LogLine[] };

async function deploy(s: TestServer, name: string, runtime: string, code: string): Promise<void> {
  const res = await s.api('/api/v1/functions', { method: 'POST', json: { name, runtime, code } });
  assert.equal(res.status, 201, await res.clone().text());
}

async function finished(s: TestServer, id: string): Promise<InvocationWithLogs> {
  return waitFor(
    async () => {
      const inv = (await (await s.api(`/api/v1/invocations/${id}`)).json()) as InvocationWithLogs;
      return TERMINAL_STATUSES.has(inv.status) ? inv : undefined;
    },
    60_000,
    `invocation ${id} to finish`,
  );
}

describe('node and python functions over the HTTP API', { skip: engineSkipReason() }, () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
    await deploy(s, 'node-double', 'node', NODE_CODE);
    await deploy(s, 'py-triple', 'python', PYTHON_CODE);
  });
  after(() => s.close());

  const cases = [
    { name: 'node-double', expected: { doubled: 14, fn: 'node-double', runtime: 'node' }, log: 'node got 7' },
    { name: 'py-triple', expected: { tripled: 21, runtime: 'python' }, log: 'python got 7' },
  ];

  it('an image function with a string command runs it with the image’s sh: pipes and variables work', async () => {
    const { base } = await buildImagesForTests();
    const command = 'read -r payload; echo "{\\"got\\": $payload, \\"shell\\": \\"$0\\"}" | tr a-z A-Z';
    const deployed = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'image-shell', runtime: 'image', image: base, command },
    });
    assert.equal(deployed.status, 201, await deployed.clone().text());
    const fn = (await (await s.api('/api/v1/functions/image-shell')).json()) as {
      latest: { command: unknown };
    };
    assert.equal(fn.latest.command, command, 'kept as written');
    const res = await s.api('/api/v1/functions/image-shell/invoke', { method: 'POST', json: { n: 7 } });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), { GOT: { N: 7 }, SHELL: '/BIN/SH' });
  });

  for (const c of cases) {
    it(`${c.name}: a sync invoke answers the result and records the logs`, async () => {
      const res = await s.api(`/api/v1/functions/${c.name}/invoke`, { method: 'POST', json: { n: 7 } });
      assert.equal(res.status, 200, await res.clone().text());
      assert.deepEqual(await res.json(), c.expected);
      const id = res.headers.get('x-invocation-id');
      assert.ok(id);
      const inv = await finished(s, id);
      assert.equal(inv.status, 'succeeded');
      assert.ok(
        inv.logs.some((l) => l.message.includes(c.log)),
        JSON.stringify(inv.logs),
      );
    });

    it(`${c.name}: an async invoke runs through the queue`, async () => {
      const res = await s.api(`/api/v1/functions/${c.name}/invoke?async=true`, {
        method: 'POST',
        json: { n: 7 },
      });
      assert.equal(res.status, 202);
      const { invocationId } = (await res.json()) as { invocationId: string };
      const inv = await finished(s, invocationId);
      assert.equal(inv.status, 'succeeded', JSON.stringify(inv.error));
      assert.equal(inv.mode, 'async');
      assert.deepEqual(inv.result, c.expected);
      assert.ok(inv.logs.some((l) => l.message.includes(c.log)));
    });
  }
});

describe('container functions without an engine', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ dockerHost: 'unix:///nonexistent.sock' });
  });
  after(() => s.close());

  it('deploying a container function answers 503 RUNTIME_UNAVAILABLE and makes no version; js still works', async () => {
    // A version that would fail at every call is not made: the deploy says why instead.
    for (const [name, body] of [
      ['node-fn', { runtime: 'node', code: NODE_CODE }],
      ['py-fn', { runtime: 'python', code: PYTHON_CODE }],
      ['go-fn', { runtime: 'go', code: 'package main\n' }],
      ['image-fn', { runtime: 'image', image: 'faas/base:x', command: ['true'] }],
    ] as const) {
      const deployed = await s.api('/api/v1/functions', { method: 'POST', json: { name, ...body } });
      assert.equal(deployed.status, 503, await deployed.clone().text());
      const error = (await deployed.json()) as { error: { code: string; message: string } };
      assert.equal(error.error.code, 'FAAS_ERR_RUNTIME_UNAVAILABLE');
      assert.match(error.error.message, /No Docker Engine answers/);
      assert.equal((await s.api(`/api/v1/functions/${name}`)).status, 404);
    }

    const js = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'js-fn', runtime: 'js', code: 'export default (e) => e.n + 1' },
    });
    assert.equal(js.status, 201);
    const res = await s.api('/api/v1/functions/js-fn/invoke', { method: 'POST', json: { n: 1 } });
    assert.equal(res.status, 200);
    assert.equal(await res.json(), 2);
  });
});
