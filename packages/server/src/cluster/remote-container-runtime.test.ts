import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { ClusterNodeRecord, FunctionVersion, NodeRegistry } from '@faas/core';
import { RemoteContainerRuntime } from './remote-container-runtime.ts';
import { type InvokeCall, NOT_STARTED_HEADER, outcomeToWire } from './wire.ts';
import { WorkerDirectory } from './worker-directory.ts';

const SECRET = 'test-cluster-secret';

/**
 * A worker of the build before calls named their version by digest: a call without the whole
 * version is a 422, as its body schema said; one with it runs.
 */
function olderWorker(calls: InvokeCall[]): Server {
  return createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    req.on('end', () => {
      const call = JSON.parse(body) as InvokeCall;
      calls.push(call);
      res.setHeader('content-type', 'application/json');
      if (!call.fn) {
        res.statusCode = 422;
        res.end(
          JSON.stringify({
            error: { code: 'FAAS_ERR_VALIDATION', message: "body must have required property 'fn'" },
          }),
        );
        return;
      }
      const outcome = outcomeToWire({
        status: 'succeeded',
        result: { ran: call.fn.name },
        metrics: { durationMs: 1 },
      });
      res.end(JSON.stringify({ outcome, logs: [] }));
    });
  });
}

describe('RemoteContainerRuntime', () => {
  const calls: InvokeCall[] = [];
  const worker = olderWorker(calls);
  let directory: WorkerDirectory;

  before(async () => {
    await new Promise<void>((resolve) => worker.listen(0, '127.0.0.1', resolve));
    const { port } = worker.address() as AddressInfo;
    const now = new Date().toISOString();
    const node: ClusterNodeRecord = {
      id: 'older',
      role: 'worker',
      url: `http://127.0.0.1:${port}`,
      capacity: { cpus: 1, memoryMb: 1024 },
      load: { cpu: 0, memory: 0, io: 0, score: 0 },
      running: 0,
      warm: [],
      startedAt: now,
      heartbeatAt: now,
    };
    const registry: NodeRegistry = {
      heartbeat: async () => undefined,
      leave: async () => undefined,
      list: async () => [node],
      close: async () => undefined,
    };
    directory = new WorkerDirectory(registry, () => undefined);
    await directory.refresh();
  });
  after(async () => {
    await new Promise((resolve) => worker.close(resolve));
  });

  it('reads a registry that failed once again before calling itself down', async () => {
    let failures = 1;
    const flaky: NodeRegistry = {
      heartbeat: async () => undefined,
      leave: async () => undefined,
      list: async () => {
        if (failures-- > 0) throw new Error('Command timed out');
        return [...directory.nodes()];
      },
      close: async () => undefined,
    };
    const once = new WorkerDirectory(flaky, () => undefined);
    await once.refresh();
    assert.equal(once.readable, false);
    const runtime = new RemoteContainerRuntime({ directory: once, secret: SECRET, kinds: ['node'] });
    assert.deepEqual(await runtime.health(), { ready: true });
    failures = 2;
    await once.refresh();
    assert.equal((await runtime.health()).ready, false, 'a registry that fails again is down');
  });

  it('sends the whole version to a worker of an older build that refuses a call by digest', async () => {
    const runtime = new RemoteContainerRuntime({ directory, secret: SECRET, kinds: ['node'] });
    const fn = { name: 'older-fn', version: 1, runtime: 'node' } as FunctionVersion;
    const outcome = await runtime.invoke({
      invocationId: 'inv_1',
      fn,
      event: {},
      deadline: Date.now() + 5_000,
      log: () => undefined,
    });
    assert.deepEqual(outcome.status === 'succeeded' && outcome.result, { ran: 'older-fn' });
    assert.deepEqual(
      calls.map((c) => c.fn?.name),
      [undefined, 'older-fn'],
    );
  });
});

/** Workers that each answer every call with `status` and `error`, `headers` set; `hits` lists them. */
async function answeringWorkers(
  names: string[],
  status: number,
  error: { code: string; message: string },
  headers: Record<string, string>,
): Promise<{ directory: WorkerDirectory; hits: string[]; close: () => Promise<void> }> {
  const hits: string[] = [];
  const servers: Server[] = [];
  const nodes: ClusterNodeRecord[] = [];
  for (const name of names) {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        hits.push(name);
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify({ error }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    const now = new Date().toISOString();
    nodes.push({
      id: name,
      role: 'worker',
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      capacity: { cpus: 1, memoryMb: 1024 },
      load: { cpu: 0, memory: 0, io: 0, score: 0 },
      running: 0,
      warm: [],
      startedAt: now,
      heartbeatAt: now,
    });
  }
  const registry: NodeRegistry = {
    heartbeat: async () => undefined,
    leave: async () => undefined,
    list: async () => nodes,
    close: async () => undefined,
  };
  const directory = new WorkerDirectory(registry, () => undefined);
  await directory.refresh();
  const close = async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  };
  return { directory, hits, close };
}

describe('RemoteContainerRuntime: which failures go to another worker', () => {
  const fn = { name: 'side-effects', version: 1, runtime: 'image' } as FunctionVersion;
  const invoke = (runtime: RemoteContainerRuntime) =>
    runtime
      .invoke({ invocationId: 'inv_2', fn, event: {}, deadline: Date.now() + 5_000, log: () => undefined })
      .then(
        () => undefined,
        (err: unknown) => err as { code?: string },
      );

  it('a 503 the worker says came after the function may have started is the answer: no second run', async () => {
    const workers = await answeringWorkers(
      ['a', 'b'],
      503,
      { code: 'FAAS_ERR_RUNTIME_UNAVAILABLE', message: 'The sandbox failed: it ended without an exit' },
      {},
    );
    const runtime = new RemoteContainerRuntime({
      directory: workers.directory,
      secret: SECRET,
      kinds: ['image'],
    });
    try {
      const err = await invoke(runtime);
      assert.equal(err?.code, 'FAAS_ERR_RUNTIME_UNAVAILABLE');
      assert.equal(workers.hits.length, 1, `ran on ${workers.hits.join(', ')}`);
    } finally {
      await runtime.close();
      await workers.close();
    }
  });

  it('a refusal before anything started (draining, engine down) goes to another worker once', async () => {
    const workers = await answeringWorkers(
      ['a', 'b'],
      503,
      { code: 'FAAS_ERR_RUNTIME_UNAVAILABLE', message: 'This worker is draining' },
      { [NOT_STARTED_HEADER]: '1' },
    );
    const runtime = new RemoteContainerRuntime({
      directory: workers.directory,
      secret: SECRET,
      kinds: ['image'],
    });
    try {
      const err = await invoke(runtime);
      assert.equal(err?.code, 'FAAS_ERR_RUNTIME_UNAVAILABLE');
      assert.deepEqual(workers.hits.toSorted(), ['a', 'b']);
    } finally {
      await runtime.close();
      await workers.close();
    }
  });
});
