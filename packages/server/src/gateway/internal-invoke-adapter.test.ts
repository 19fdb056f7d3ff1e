import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, FaasError, type FunctionVersion, refusedBeforeStart } from '@faas/core';
import { CLUSTER_AUTH_HEADER, clusterAuthValue, NOT_STARTED_HEADER, toWire } from '../cluster/wire.ts';
import type { Platform, WorkerVersions } from '../platform.ts';
import { internalInvokeAdapter } from './internal-invoke-adapter.ts';

const SECRET = 'test-cluster-secret';
const fn = { name: 'f', version: 1, runtime: 'image' } as FunctionVersion;

/** A worker's adapter over a platform whose container runtime throws what `fails` gives. */
function worker(state: { draining: boolean; fails: () => Error }): Server {
  const runtime = { kind: 'container', invoke: async () => Promise.reject(state.fails()) };
  const platform = {
    config: { bodyLimitBytes: 1024 * 1024 },
    observability: { http: { observe: () => {} }, requests: { write: () => {} } },
    get draining() {
      return state.draining;
    },
    runtimes: { forFunction: () => runtime },
  } as unknown as Platform;
  const versions = { get: () => fn, put: () => {}, retire: () => {} } as unknown as WorkerVersions;
  const adapter = internalInvokeAdapter(platform, SECRET, versions);
  return createServer((req, res) => {
    if (!adapter(req, res)) res.writeHead(404).end();
  });
}

describe("a worker's internal invoke says whether the call was refused before it started", () => {
  const state = { draining: false, fails: (): Error => new Error('unset') };
  const server = worker(state);
  let url: string;
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/internal/v1/invoke`;
  });
  after(() => server.close());

  const call = () =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [CLUSTER_AUTH_HEADER]: clusterAuthValue(SECRET) },
      body: JSON.stringify({
        invocationId: 'inv_1',
        digest: 'd',
        event: toWire({}),
        deadline: Date.now() + 5_000,
      }),
    });

  it('draining: a 503 marked as not started (a gateway sends it to another worker)', async () => {
    state.draining = true;
    const res = await call();
    assert.equal(res.status, 503, await res.clone().text());
    assert.equal(res.headers.get(NOT_STARTED_HEADER), '1');
  });

  it('a runtime refusal (engine down) is marked; a failure after the start is not', async () => {
    state.draining = false;
    state.fails = () => refusedBeforeStart(new FaasError(ErrorCode.RUNTIME_UNAVAILABLE, 'engine down'));
    const refused = await call();
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get(NOT_STARTED_HEADER), '1');
    state.fails = () => new FaasError(ErrorCode.RUNTIME_UNAVAILABLE, 'The sandbox failed: it ended');
    const failed = await call();
    assert.equal(failed.status, 503);
    assert.equal(failed.headers.get(NOT_STARTED_HEADER), null);
  });
});
