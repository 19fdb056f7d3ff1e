import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Invocation, type LogLine, TERMINAL_STATUSES } from '@faas/core';
import { type WatFixture, wabtMissing, watModule } from '@faas/testkit';
import { startTestServer, type TestServer, waitFor } from '../support/server.ts';

type ErrorBody = { error: { code: string; message: string; details: Record<string, unknown> } };

const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

/** A tar holding `main.wasm` (and a README), as a folder deploy sends it. */
function tarWithModule(bytes: Uint8Array): string {
  const dir = mkdtempSync(join(tmpdir(), 'faas-wasm-tar-'));
  try {
    writeFileSync(join(dir, 'main.wasm'), bytes);
    writeFileSync(join(dir, 'README.md'), 'built from echo.wat\n');
    const tar = spawnSync('tar', ['-c', '-C', dir, 'main.wasm', 'README.md']);
    assert.equal(tar.status, 0, String(tar.stderr));
    return tar.stdout.toString('base64');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('wasm functions through the API', { skip: wabtMissing() }, () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s?.close());

  const deploy = (name: string, fixture: WatFixture, extra: Record<string, unknown> = {}) =>
    s.api('/api/v1/functions', {
      method: 'POST',
      json: { name, runtime: 'wasm', code: { wasm: base64(watModule(fixture)) }, ...extra },
    });
  const invoke = (name: string, event: unknown = null) =>
    s.api(`/api/v1/functions/${name}/invoke`, { method: 'POST', json: event });
  const invocation = async (id: string | null) =>
    (await (await s.api(`/api/v1/invocations/${id}`)).json()) as Invocation & { logs: LogLine[] };

  it('deploys { wasm } with main._start as its handler and echoes the event', async () => {
    const res = await deploy('wasm-echo', 'echo');
    assert.equal(res.status, 201, await res.clone().text());
    const record = (await res.json()) as { latest: { handler: string; runtime: string } };
    assert.deepEqual([record.latest.runtime, record.latest.handler], ['wasm', 'main._start']);
    const out = await invoke('wasm-echo', { hello: 'wasm', n: [1, 2] });
    assert.equal(out.status, 200);
    assert.deepEqual(await out.json(), { hello: 'wasm', n: [1, 2] });
  });

  it('deploys an archive holding main.wasm', async () => {
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'wasm-archive',
        runtime: 'wasm',
        code: { archive: tarWithModule(watModule('echo')), format: 'tar' },
      },
    });
    assert.equal(res.status, 201, await res.clone().text());
    assert.deepEqual(await (await invoke('wasm-archive', [3])).json(), [3]);
  });

  it('records the result and the stderr lines as the invocation logs', async () => {
    assert.equal((await deploy('wasm-logs', 'result-and-logs')).status, 201);
    const res = await invoke('wasm-logs');
    assert.deepEqual(await res.json(), { ok: true, n: 42 });
    const inv = await invocation(res.headers.get('x-invocation-id'));
    assert.equal(inv.status, 'succeeded');
    assert.deepEqual(
      inv.logs.map((l) => [l.level, l.message]),
      [
        ['error', 'hello from wasm'],
        ['error', 'a second line'],
      ],
    );
  });

  it('a non-zero exit is a failed invocation (500) with the last stderr lines', async () => {
    assert.equal((await deploy('wasm-exit', 'exit-code')).status, 201);
    const res = await invoke('wasm-exit');
    assert.equal(res.status, 500);
    const body = (await res.json()) as ErrorBody;
    assert.equal(body.error.code, 'FAAS_ERR_FUNCTION_ERROR');
    assert.match(
      body.error.message,
      /exited with code 3; stderr ended with:\nstarting\ndatabase unreachable/,
    );
    assert.equal((await invocation(body.error.details.invocationId as string)).status, 'failed');
  });

  it('an infinite loop is stopped at timeoutMs (504) and the next call works', async () => {
    assert.equal((await deploy('wasm-hang', 'hang', { timeoutMs: 300 })).status, 201);
    const res = await invoke('wasm-hang');
    assert.equal(res.status, 504);
    assert.equal(((await res.json()) as ErrorBody).error.code, 'FAAS_ERR_FUNCTION_TIMEOUT');
    assert.deepEqual(await (await invoke('wasm-echo', 'after')).json(), 'after');
  });

  it('growing memory past memoryMb is out_of_memory; the server lives on', async () => {
    assert.equal((await deploy('wasm-hog', 'memory-hog', { memoryMb: 16 })).status, 201);
    const res = await invoke('wasm-hog');
    assert.equal(res.status, 500);
    const body = (await res.json()) as ErrorBody;
    assert.equal(body.error.code, 'FAAS_ERR_OUT_OF_MEMORY');
    assert.equal((await invocation(body.error.details.invocationId as string)).status, 'out_of_memory');
    assert.equal((await s.api('/health')).status, 200);
    assert.deepEqual(await (await invoke('wasm-echo', 5)).json(), 5);
  });

  it('a broken module is 422 COMPILE_ERROR with the compiler message, nothing deployed', async () => {
    const truncated = watModule('echo').subarray(0, 40);
    for (const [name, wasm] of [
      ['wasm-broken', base64(truncated)],
      ['wasm-text', Buffer.from('export default () => 1').toString('base64')],
    ] as const) {
      const res = await s.api('/api/v1/functions', {
        method: 'POST',
        json: { name, runtime: 'wasm', code: { wasm } },
      });
      assert.equal(res.status, 422, name);
      const body = (await res.json()) as ErrorBody;
      assert.equal(body.error.code, 'FAAS_ERR_COMPILE_ERROR', name);
      assert.match(body.error.message, /^main\.wasm is not a module this runtime can run: /, name);
      assert.equal((await s.api(`/api/v1/functions/${name}`)).status, 404, name);
    }
  });

  it('a module importing outside WASI is 422 naming the import', async () => {
    const res = await deploy('wasm-import', 'forbidden-import');
    assert.equal(res.status, 422);
    const body = (await res.json()) as ErrorBody;
    assert.equal(body.error.code, 'FAAS_ERR_COMPILE_ERROR');
    assert.match(
      body.error.message,
      /imports env\.host_exec \(function\): only functions of wasi_snapshot_preview1/,
    );
  });

  it('a module whose initial memory passes memoryMb is 422', async () => {
    const res = await deploy('wasm-big', 'big-initial-memory', { memoryMb: 16 });
    assert.equal(res.status, 422);
    assert.match(((await res.json()) as ErrorBody).error.message, /starts at 1024 pages \(64 MiB\)/);
    assert.equal((await deploy('wasm-big', 'big-initial-memory', { memoryMb: 128 })).status, 201);
  });

  it('refuses bad { wasm } code and a handler other than _start with 422', async () => {
    const notBase64 = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'wasm-b64', runtime: 'wasm', code: { wasm: '%%%' } },
    });
    assert.equal(notBase64.status, 422);
    assert.match(((await notBase64.json()) as ErrorBody).error.message, /code\.wasm is not valid base64/);
    const handler = await deploy('wasm-handler', 'echo', { handler: 'main.run' });
    assert.equal(handler.status, 422);
    assert.match(
      ((await handler.json()) as ErrorBody).error.message,
      /handler must name its module's "_start"/,
    );
    const network = await deploy('wasm-net', 'echo', { network: true });
    assert.equal(network.status, 422);
  });

  it('runs async invocations through the queue', async () => {
    const res = await s.api('/api/v1/functions/wasm-echo/invoke?async=true', {
      method: 'POST',
      json: { queued: 1 },
    });
    assert.equal(res.status, 202);
    const { invocationId } = (await res.json()) as { invocationId: string };
    const inv = await waitFor(
      async () => {
        const current = await invocation(invocationId);
        return TERMINAL_STATUSES.has(current.status) ? current : undefined;
      },
      15_000,
      'the async wasm invocation',
    );
    assert.equal(inv.status, 'succeeded');
    assert.deepEqual(inv.result, { queued: 1 });
    assert.equal(inv.mode, 'async');
  });
});
