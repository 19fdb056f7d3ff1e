import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Invocation, LogLine, Page } from '@faas/core';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('sync invocations', () => {
  let s: TestServer;
  const deploy = async (name: string, code: string, extra: Record<string, unknown> = {}) => {
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name, runtime: 'js', code, ...extra },
    });
    assert.equal(res.status, 201, await res.clone().text());
  };
  const invoke = (name: string, init: RequestInit & { json?: unknown } = {}) =>
    s.api(`/api/v1/functions/${name}/invoke`, { method: 'POST', ...init });

  before(async () => {
    s = await startTestServer();
    await deploy(
      'echo',
      'export default async (event, ctx) => ({ event, fn: ctx.functionName, v: ctx.version })',
    );
    await deploy('thrower', 'export default () => { throw new TypeError("bad thing") }');
    await deploy('looper', 'export default () => { while (true) {} }', { timeoutMs: 300 });
    await deploy(
      'hog',
      'export default () => { const a = []; while (true) a.push(new Array(1e5).fill(Math.random())); }',
      { memoryMb: 16 },
    );
    await deploy(
      'chatty',
      'export default (e) => { console.log("one", 1); console.error("two"); return "ok" }',
    );
  });
  after(() => s.close());

  it('answers the result with invocation id, version and duration headers', async () => {
    const res = await invoke('echo', { json: { a: 1 } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { event: { a: 1 }, fn: 'echo', v: 1 });
    assert.match(res.headers.get('x-invocation-id') ?? '', /^inv_/);
    assert.equal(res.headers.get('x-function-version'), '1');
    assert.match(res.headers.get('x-duration-ms') ?? '', /^\d+(\.\d+)?$/);
  });

  it('passes text as a string, bytes as bytes, and no body as null', async () => {
    const text = await invoke('echo', { headers: { 'content-type': 'text/plain' }, body: 'hello' });
    assert.equal(((await text.json()) as { event: unknown }).event, 'hello');
    const none = await invoke('echo');
    assert.equal(((await none.json()) as { event: unknown }).event, null);
    await deploy(
      'bytes',
      'export default (e) => ({ isBytes: e instanceof Uint8Array, sum: [...e].reduce((a, b) => a + b, 0) })',
    );
    const bin = await invoke('bytes', {
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array([1, 2, 250]),
    });
    assert.deepEqual(await bin.json(), { isBytes: true, sum: 253 });
  });

  it('a thrown error is a 500 with message, type and stack, recorded as failed', async () => {
    const res = await invoke('thrower');
    assert.equal(res.status, 500);
    const body = (await res.json()) as {
      error: {
        code: string;
        message: string;
        details: { type: string; stack: string; invocationId: string };
      };
    };
    assert.equal(body.error.code, 'FAAS_ERR_FUNCTION_ERROR');
    assert.equal(body.error.message, 'bad thing');
    assert.equal(body.error.details.type, 'TypeError');
    assert.match(body.error.details.stack, /bad thing/);
    const inv = (await (
      await s.api(`/api/v1/invocations/${body.error.details.invocationId}`)
    ).json()) as Invocation;
    assert.equal(inv.status, 'failed');
    assert.equal(inv.error?.message, 'bad thing');
  });

  it('gives js/ts functions their env: process.env (at the top of the module too) and context.env', async () => {
    await deploy(
      'env-reader',
      'const atLoad = process.env.GREETING; export default (e, ctx) => ({ atLoad, now: process.env.GREETING, ctx: ctx.env.GREETING, other: process.env.NOPE ?? null })',
      { env: { GREETING: 'hello' } },
    );
    const res = await invoke('env-reader', { json: {} });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { atLoad: 'hello', now: 'hello', ctx: 'hello', other: null });
  });

  it('answers bytes a function returns as bytes, on the API and on HTTP triggers', async () => {
    await deploy('bytes-out', 'export default () => new TextEncoder().encode("h\\u00e9llo")');
    const res = await invoke('bytes-out', { json: {} });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.equal(Buffer.from(await res.arrayBuffer()).toString('utf8'), 'h\u00e9llo');
    await deploy(
      'bytes-http',
      'export default () => ({ statusCode: 201, headers: { "content-type": "image/png" }, body: new Uint8Array([137, 80, 78, 71]) })',
      { public: true },
    );
    const http = await fetch(`${s.url}/fn/bytes-http`);
    assert.equal(http.status, 201);
    assert.equal(http.headers.get('content-type'), 'image/png');
    assert.deepEqual([...new Uint8Array(await http.arrayBuffer())], [137, 80, 78, 71]);
  });

  it('makes a promise rejection the function left unhandled its error: 500, recorded with its logs', async () => {
    const cases = {
      'reject-sync':
        'export default () => { console.log("before"); Promise.reject(new Error("later")); return "ok" }',
      'reject-async':
        'export default async () => { console.log("before"); Promise.reject(new Error("later")); await new Promise((r) => setTimeout(r, 20)); return "ok" }',
      'reject-timer':
        'export default async () => { console.log("before"); setTimeout(async () => { throw new Error("later") }, 1); await new Promise((r) => setTimeout(r, 50)); return "ok" }',
    };
    for (const [name, code] of Object.entries(cases)) {
      await deploy(name, code);
      const res = await invoke(name, { json: {} });
      assert.equal(res.status, 500, `${name}: ${await res.clone().text()}`);
      const body = (await res.json()) as {
        error: { code: string; message: string; details: { invocationId: string } };
      };
      assert.equal(body.error.code, 'FAAS_ERR_FUNCTION_ERROR', name);
      assert.match(body.error.message, /later/);
      const inv = (await (
        await s.api(`/api/v1/invocations/${body.error.details.invocationId}`)
      ).json()) as Invocation & {
        logs: LogLine[];
      };
      assert.equal(inv.status, 'failed', name);
      assert.equal(inv.logs[0]?.message, 'before', name);
      assert.match(inv.logs.at(-1)?.message ?? '', /^\[faas\] failed: .*later/, name);
      // The function works again after.
      assert.equal((await invoke('echo', { json: 1 })).status, 200);
    }
  });

  it('points error stacks at the TypeScript source: its file, line and column', async () => {
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'ts-thrower',
        runtime: 'ts',
        handler: 'src/api.handler',
        code: {
          files: {
            'src/api.ts': [
              "import { check } from './lib/check.ts';",
              'interface Event { n: number }',
              'export function handler(event: Event): number {',
              '  return check(event.n);',
              '}',
            ].join('\n'),
            'src/lib/check.ts': [
              'type Limit = number;',
              'const LIMIT: Limit = 10;',
              'export function check(n: number): number {',
              '  if (n > LIMIT) throw new RangeError(`too big: ${n}`);',
              '  return n;',
              '}',
            ].join('\n'),
          },
        },
      },
    });
    assert.equal(res.status, 201, await res.clone().text());
    const failed = await invoke('ts-thrower', { json: { n: 11 } });
    assert.equal(failed.status, 500);
    const body = (await failed.json()) as { error: { details: { stack: string } } };
    assert.match(body.error.details.stack, /file:\/\/\/ts-thrower\/src\/lib\/check\.ts:4:\d+/);
    assert.match(body.error.details.stack, /file:\/\/\/ts-thrower\/src\/api\.ts:4:\d+/);
  });

  it('an infinite loop is stopped at the timeout: 504 and timed_out, and the function works after', async () => {
    const started = Date.now();
    const res = await invoke('looper');
    const elapsed = Date.now() - started;
    assert.equal(res.status, 504);
    const body = (await res.json()) as {
      error: { code: string; message: string; details: { invocationId: string } };
    };
    assert.equal(body.error.code, 'FAAS_ERR_FUNCTION_TIMEOUT');
    // The configured limit, not the time measured (which read "stopped after 0 ms" when queued).
    assert.equal(body.error.message, 'The function did not finish within its timeout of 300 ms');
    assert.ok(elapsed >= 290, `stopped after ${elapsed} ms, before the 300 ms timeout`);
    const inv = (await (
      await s.api(`/api/v1/invocations/${body.error.details.invocationId}`)
    ).json()) as Invocation;
    assert.equal(inv.status, 'timed_out');
    assert.equal((await invoke('echo', { json: 1 })).status, 200, 'the server lives on');
  });

  it('going over the memory limit fails with out_of_memory and the server lives on', async () => {
    const res = await invoke('hog');
    assert.equal(res.status, 500);
    const body = (await res.json()) as { error: { code: string; details: { invocationId: string } } };
    assert.equal(body.error.code, 'FAAS_ERR_OUT_OF_MEMORY');
    const inv = (await (
      await s.api(`/api/v1/invocations/${body.error.details.invocationId}`)
    ).json()) as Invocation;
    assert.equal(inv.status, 'out_of_memory');
    assert.equal((await invoke('echo', { json: 2 })).status, 200);
  });

  it('captures console output into the invocation logs, in order', async () => {
    const res = await invoke('chatty');
    const id = res.headers.get('x-invocation-id');
    const inv = (await (await s.api(`/api/v1/invocations/${id}`)).json()) as Invocation & { logs: LogLine[] };
    assert.deepEqual(
      inv.logs.map((l) => [l.level, l.message]),
      [
        ['log', 'one 1'],
        ['error', 'two'],
      ],
    );
    const tail = (await (await s.api('/api/v1/logs?functionName=chatty')).json()) as {
      items: LogLine[];
      nextSeq: number;
    };
    assert.deepEqual(
      tail.items.map((l) => l.message),
      ['one 1', 'two'],
    );
    const after = (await (
      await s.api(`/api/v1/logs?functionName=chatty&afterSeq=${tail.nextSeq}`)
    ).json()) as { items: LogLine[] };
    assert.equal(after.items.length, 0);
  });

  it('has no network, file system or process access in the isolate', async () => {
    await deploy(
      'snoop',
      // esbuild's bundle has a local require stand-in that only throws; the global must not exist.
      // `process` is there for its env alone.
      'export default () => [typeof fetch, Object.keys(process).join(), typeof globalThis.require, typeof XMLHttpRequest, typeof Deno]',
    );
    assert.deepEqual(await (await invoke('snoop')).json(), [
      'undefined',
      'env',
      'undefined',
      'undefined',
      'undefined',
    ]);
  });

  it('lists invocations filtered by function, status and time', async () => {
    const since = new Date(Date.now() - 60_000).toISOString();
    const page = (await (
      await s.api(`/api/v1/invocations?functionName=thrower&status=failed&since=${since}`)
    ).json()) as Page<Invocation>;
    assert.ok(page.items.length >= 1);
    assert.ok(page.items.every((i) => i.functionName === 'thrower' && i.status === 'failed'));
    const future = new Date(Date.now() + 60_000).toISOString();
    const none = (await (
      await s.api(`/api/v1/invocations?functionName=thrower&since=${future}`)
    ).json()) as Page<Invocation>;
    assert.equal(none.items.length, 0);
  });
});
