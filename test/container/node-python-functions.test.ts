import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, type FunctionVersion } from '@faas/core';
import {
  buildImagesForTests,
  createTestRuntime,
  engineSkipReason,
  request,
  type TestRuntime,
} from './support.ts';

const skip = await engineSkipReason();

describe('container runtime: node and python functions on the real engine', { skip }, () => {
  let t: TestRuntime;

  before(
    async () => {
      await buildImagesForTests();
      t = await createTestRuntime();
    },
    { timeout: 900_000 },
  );

  after(async () => {
    await t?.close();
  });

  it('runs a node ESM default export once loaded, with its context and console output', async () => {
    const fn = await t.deploy(
      {
        'index.mjs': `let loads = (globalThis.loads ?? 0) + 1; globalThis.loads = loads;
        export default async (event, context) => {
          console.log('got', event.n);
          return { doubled: event.n * 2, name: context.functionName, version: context.functionVersion,
            id: context.invocationId, remaining: context.getRemainingTimeMs() > 0, loads, uid: process.getuid(),
            env: process.env.GREETING };
        };`,
      },
      { env: { GREETING: 'hello' } },
    );
    const logs: string[] = [];
    const first = await t.runtime.invoke(request(fn, { n: 21 }, logs));
    assert.equal(first.status, 'succeeded', JSON.stringify(first));
    assert.ok(first.status === 'succeeded');
    const result = first.result as Record<string, unknown>;
    assert.equal(result.doubled, 42);
    assert.equal(result.name, fn.name);
    assert.equal(result.version, 1);
    assert.equal(result.remaining, true);
    assert.equal(result.uid, 65534, 'functions run as a non-root user');
    assert.equal(result.env, 'hello');
    assert.deepEqual(logs, ['log: got 21']);
    const second = await t.runtime.invoke(request(fn, { n: 1 }));
    assert.ok(second.status === 'succeeded');
    assert.equal(
      (second.result as Record<string, unknown>).loads,
      1,
      'the module is loaded once per container',
    );
    assert.equal(t.runtime.stats().byVersion[`${fn.name}:1`], 1);
    assert.ok(typeof second.metrics.durationMs === 'number');
  });

  it("measures each invocation's CPU time and peak memory from the container's cgroup", async () => {
    const fn = await t.deploy({
      'index.mjs': `export default (event) => {
          const held = Buffer.alloc(event.mb * 1024 * 1024, 1);
          const until = performance.now() + event.ms;
          while (performance.now() < until);
          return held.length;
        };`,
    });
    const idle = await t.runtime.invoke(request(fn, { ms: 0, mb: 0 }));
    const busy = await t.runtime.invoke(request(fn, { ms: 200, mb: 64 }));
    assert.ok(idle.status === 'succeeded' && busy.status === 'succeeded', JSON.stringify([idle, busy]));
    const { cpuTimeMs, peakMemoryBytes } = busy.metrics;
    assert.ok(cpuTimeMs !== undefined && cpuTimeMs >= 100, `busy CPU ${cpuTimeMs} ms`);
    assert.ok((idle.metrics.cpuTimeMs ?? Number.POSITIVE_INFINITY) < cpuTimeMs, JSON.stringify(idle.metrics));
    assert.ok(
      peakMemoryBytes !== undefined && peakMemoryBytes >= 64 * 1024 * 1024,
      `peak ${peakMemoryBytes}`,
    );
  });

  it('gives node functions the trace context, and their fetches carry traceparent', async () => {
    // A server inside the container (loopback works without network) echoes what fetch sent.
    const fn = await t.deploy({
      'index.mjs': `import { createServer } from 'node:http';
        export default async (event, context) => {
          const server = createServer((req, res) => res.end(JSON.stringify({
            traceparent: req.headers.traceparent ?? null, custom: req.headers['x-own'] ?? null })));
          await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
          const url = 'http://127.0.0.1:' + server.address().port;
          try {
            const plain = await (await fetch(url)).json();
            const own = await (await fetch(url, { headers: { traceparent: event.own, 'x-own': '1' } })).json();
            return { traceId: context.traceId ?? null, traceparent: context.traceparent ?? null, plain, own };
          } finally {
            server.close();
          }
        };`,
    });
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const own = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const traced = await t.runtime.invoke({
      ...request(fn, { own }),
      trace: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', traceparent },
    });
    assert.ok(traced.status === 'succeeded', JSON.stringify(traced));
    assert.deepEqual(traced.result, {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      traceparent,
      plain: { traceparent, custom: null },
      own: { traceparent: own, custom: '1' },
    });
    const untraced = await t.runtime.invoke(request(fn, { own }));
    assert.ok(untraced.status === 'succeeded', JSON.stringify(untraced));
    assert.deepEqual(untraced.result, {
      traceId: null,
      traceparent: null,
      plain: { traceparent: null, custom: null },
      own: { traceparent: own, custom: '1' },
    });
  });

  it('gives python functions the trace context, and their urllib and http.client requests carry traceparent', async () => {
    // A server inside the container (loopback works without network) echoes what each request sent.
    const fn = await t.deploy(
      {
        'main.py': [
          'import http.client, json, threading, urllib.request',
          'from http.server import BaseHTTPRequestHandler, HTTPServer',
          'class Echo(BaseHTTPRequestHandler):',
          '    def do_GET(self):',
          '        body = json.dumps(self.headers.get_all("traceparent")).encode()',
          '        self.send_response(200)',
          '        self.send_header("content-length", str(len(body)))',
          '        self.end_headers()',
          '        self.wfile.write(body)',
          '    def log_message(self, *args):',
          '        pass',
          'def handler(event, context):',
          '    server = HTTPServer(("127.0.0.1", 0), Echo)',
          '    threading.Thread(target=server.serve_forever, daemon=True).start()',
          '    url = "http://127.0.0.1:%d/" % server.server_port',
          '    try:',
          '        plain = json.loads(urllib.request.urlopen(url).read())',
          '        own = json.loads(urllib.request.urlopen(urllib.request.Request(url, headers={"TraceParent": event["own"]})).read())',
          '        connection = http.client.HTTPConnection("127.0.0.1", server.server_port)',
          '        connection.request("GET", "/")',
          '        direct = json.loads(connection.getresponse().read())',
          '    finally:',
          '        server.shutdown()',
          '    return {"traceId": context.trace_id, "traceparent": context.traceparent, "plain": plain, "own": own, "direct": direct}',
        ].join('\n'),
      },
      { runtime: 'python', handler: 'main.handler' },
    );
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const own = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const traced = await t.runtime.invoke({
      ...request(fn, { own }),
      trace: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', traceparent },
    });
    assert.ok(traced.status === 'succeeded', JSON.stringify(traced));
    assert.deepEqual(traced.result, {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      traceparent,
      plain: [traceparent],
      own: [own],
      direct: [traceparent],
    });
    const untraced = await t.runtime.invoke(request(fn, { own }));
    assert.ok(untraced.status === 'succeeded', JSON.stringify(untraced));
    assert.deepEqual(untraced.result, {
      traceId: null,
      traceparent: null,
      plain: null,
      own: [own],
      direct: null,
    });
  });

  it('calls the export named by the handler and passes binary events as bytes', async () => {
    const fn = await t.deploy(
      {
        'src/api.js':
          'export async function handle(event) { return { length: event.length, first: event[0] }; }',
      },
      { handler: 'src/api.handle' },
    );
    const outcome = await t.runtime.invoke(request(fn, new Uint8Array([7, 8, 9])));
    assert.equal(outcome.status, 'succeeded', JSON.stringify(outcome));
    assert.ok(outcome.status === 'succeeded');
    assert.deepEqual(outcome.result, { length: 3, first: 7 });
  });

  it('runs a python handler from main.handler with print output as logs', async () => {
    const fn = await t.deploy(
      {
        'main.py': [
          'import os',
          'def handler(event, context):',
          '    print("hello from python")',
          '    return {"echo": event, "name": context.function_name, "uid": os.getuid()}',
        ].join('\n'),
      },
      { runtime: 'python', handler: 'main.handler' },
    );
    const logs: string[] = [];
    const outcome = await t.runtime.invoke(request(fn, { a: [1, 2] }, logs));
    assert.equal(outcome.status, 'succeeded', JSON.stringify(outcome));
    assert.ok(outcome.status === 'succeeded');
    assert.deepEqual(outcome.result, { echo: { a: [1, 2] }, name: fn.name, uid: 65534 });
    assert.deepEqual(logs, ['log: hello from python']);
  });

  it('awaits a python async def handler, on one event loop kept between calls', async () => {
    const fn = await t.deploy(
      {
        'main.py': [
          'import asyncio',
          'calls = []',
          'async def handler(event, context):',
          '    await asyncio.sleep(0.01)',
          '    calls.append(id(asyncio.get_running_loop()))',
          '    return {"n": event["n"], "loops": len(set(calls))}',
        ].join('\n'),
      },
      { runtime: 'python', handler: 'main.handler' },
    );
    for (const n of [1, 2]) {
      const outcome = await t.runtime.invoke(request(fn, { n }));
      assert.equal(outcome.status, 'succeeded', JSON.stringify(outcome));
      assert.deepEqual((outcome as { result: unknown }).result, { n, loops: 1 });
    }
  });

  it('reports a thrown error with type, message and stack and keeps the container warm', async () => {
    const fn = await t.deploy({
      'index.js': `export default async () => { throw new TypeError('bad input'); };`,
    });
    const outcome = await t.runtime.invoke(request(fn, {}));
    assert.equal(outcome.status, 'failed');
    assert.ok(outcome.status === 'failed');
    assert.equal(outcome.error.type, 'TypeError');
    assert.equal(outcome.error.message, 'bad input');
    assert.match(outcome.error.stack ?? '', /index\.js/);
    assert.equal(t.runtime.stats().byVersion[`${fn.name}:1`], 1);

    const py = await t.deploy(
      { 'main.py': 'def handler(event, context):\n    raise ValueError("nope")\n' },
      { runtime: 'python', handler: 'main.handler' },
    );
    const pyOutcome = await t.runtime.invoke(request(py, {}));
    assert.ok(pyOutcome.status === 'failed');
    assert.equal(pyOutcome.error.type, 'ValueError');
    assert.match(pyOutcome.error.stack ?? '', /main\.py/);
  });

  it('fails prepare with COMPILE_ERROR and invoke with a failed outcome when the handler does not load', async () => {
    const missing = await t.deploy({ 'other.js': 'export default () => 1' });
    await assert.rejects(
      t.runtime.prepare(missing),
      (err: { code?: string }) => err.code === ErrorCode.COMPILE_ERROR,
    );
    const syntax = await t.deploy({ 'index.js': 'export default async ( => {' });
    const outcome = await t.runtime.invoke(request(syntax, {}));
    assert.equal(outcome.status, 'failed');
    assert.ok(outcome.status === 'failed');
    assert.equal(outcome.error.type, 'SyntaxError');
  });

  it('fails (not 503) when the process exits while loading', async () => {
    const fn = await t.deploy({ 'index.js': 'process.exit(5); export default async () => 1;' });
    const outcome = await t.runtime.invoke(request(fn, {}));
    assert.equal(outcome.status, 'failed', JSON.stringify(outcome));
    assert.ok(outcome.status === 'failed');
    assert.equal(outcome.error.type, 'ProcessExited');
    await assert.rejects(
      t.runtime.prepare(fn),
      (err: { code?: string }) => err.code === ErrorCode.COMPILE_ERROR,
    );
  });

  it('runs at most maxConcurrency containers of a version and reuses them', async () => {
    const fn: FunctionVersion = await t.deploy(
      {
        'index.js': 'export default async (e) => { await new Promise((r) => setTimeout(r, 100)); return e; }',
      },
      { maxConcurrency: 2 },
    );
    const outcomes = await Promise.all([1, 2, 3, 4].map((n) => t.runtime.invoke(request(fn, n))));
    assert.deepEqual(
      outcomes.map((o) => (o.status === 'succeeded' ? o.result : o.status)),
      [1, 2, 3, 4],
    );
    assert.equal(t.runtime.stats().byVersion[`${fn.name}:1`], 2);
  });

  it('installs npm dependencies from package.json; a failing install is a COMPILE_ERROR', async () => {
    const files = {
      'package.json': JSON.stringify({ name: 'uses-ms', type: 'module', dependencies: { ms: '2.1.3' } }),
      'index.js': `import ms from 'ms'; export default async () => ms('2 days');`,
    };
    const fn = await t.deploy(files);
    // As the platform's deploy does: the install (from the registry, however slow) happens here,
    // not within the call's 10 s.
    await t.runtime.prepare(fn);
    const outcome = await t.runtime.invoke(request(fn, {}));
    assert.equal(outcome.status, 'succeeded', JSON.stringify(outcome));
    assert.ok(outcome.status === 'succeeded');
    assert.equal(outcome.result, 172_800_000);
    const broken = await t.deploy({
      'package.json': JSON.stringify({ dependencies: { 'faas-test-no-such-package-xyz': '1.0.0' } }),
      'index.js': 'export default async () => 1',
    });
    await assert.rejects(t.runtime.prepare(broken), (err: { code?: string; message?: string }) => {
      return err.code === ErrorCode.COMPILE_ERROR && /npm/.test(err.message ?? '');
    });
  });

  it('retires a version: its containers are removed and the engine has only what the runtime tracks', async () => {
    const fn = await t.deploy({ 'index.js': 'export default async () => 1' });
    await t.runtime.prepare(fn);
    assert.equal(t.runtime.stats().byVersion[`${fn.name}:1`], 1);
    await t.runtime.retire(fn.name);
    assert.equal(t.runtime.stats().byVersion[`${fn.name}:1`], undefined);
    assert.equal(await t.containerCount(), t.runtime.trackedContainers());
  });
});
