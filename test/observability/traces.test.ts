import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { type Invocation, TERMINAL_STATUSES } from '@faas/core';
import { engineSkipReason } from '../support/engine.ts';
import { OtlpCollector, type ReceivedSpan } from '../support/otlp-collector.ts';
import { ADMIN_KEY, startTestServer, type TestServer, waitFor } from '../support/server.ts';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

function traceparentOf(traceId: string, spanId: string): string {
  return `00-${traceId}-${spanId}-01`;
}

function randomHex(bytes: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');
}

/** One POST on a connection of its own (the threads share the port: each may take it). */
function postOnce(s: TestServer, path: string, traceparent: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${s.url}${path}`,
      {
        method: 'POST',
        agent: false,
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json', traceparent },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end('{"n":1}');
  });
}

async function record(s: TestServer, id: string): Promise<Invocation> {
  return (await (await s.api(`/api/v1/invocations/${id}`)).json()) as Invocation;
}

async function finished(s: TestServer, id: string): Promise<Invocation> {
  return waitFor(
    async () => {
      const inv = await record(s, id);
      return TERMINAL_STATUSES.has(inv.status) ? inv : undefined;
    },
    15_000,
    `invocation ${id} to finish`,
  );
}

/** The one span of `spans` named `name` (under `parent` when given). */
function only(spans: ReceivedSpan[], name: string, parent?: ReceivedSpan): ReceivedSpan {
  const found = spans.filter((s) => s.name === name && (!parent || s.parentSpanId === parent.spanId));
  assert.equal(found.length, 1, `one ${name} span${parent ? ` under ${parent.name}` : ''}: ${names(spans)}`);
  return found[0] as ReceivedSpan;
}

function names(spans: ReceivedSpan[]): string {
  return JSON.stringify(spans.map((s) => [s.name, s.spanId, s.parentSpanId]));
}

describe('traces: exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set', () => {
  let collector: OtlpCollector;
  let s: TestServer;
  const sync = { traceId: randomHex(16), parent: randomHex(8) };
  const async_ = { traceId: randomHex(16), parent: randomHex(8) };
  let syncId = '';
  let syncResponseParent = '';
  let asyncId = '';
  let asyncResponseParent = '';
  let badHeaderTrace = '';
  let records: Invocation[] = [];
  const spread: string[] = [];
  let servedOnThread = 0;
  let refusedParent = '';
  let spoofedParent = '';

  before(async () => {
    collector = await OtlpCollector.start();
    // Two gateway threads: sync js calls are served on them, each exporting its own spans.
    s = await startTestServer({ otlpEndpoint: collector.url, gatewayThreads: 2, queuePollMs: 50 });
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'traced', runtime: 'js', code: 'export default (e) => ({ n: e.n * 2 })' },
    });
    assert.equal(res.status, 201, await res.text());

    const call = await s.api('/api/v1/functions/traced/invoke', {
      method: 'POST',
      json: { n: 21 },
      headers: { traceparent: traceparentOf(sync.traceId, sync.parent), tracestate: 'vendor=x' },
    });
    assert.equal(call.status, 200, await call.clone().text());
    syncId = call.headers.get('x-invocation-id') as string;
    syncResponseParent = call.headers.get('traceparent') ?? '';

    const queued = await s.api('/api/v1/functions/traced/invoke?async=true', {
      method: 'POST',
      json: { n: 1 },
      headers: { traceparent: traceparentOf(async_.traceId, async_.parent) },
    });
    assert.equal(queued.status, 202);
    asyncId = ((await queued.json()) as { invocationId: string }).invocationId;
    asyncResponseParent = queued.headers.get('traceparent') ?? '';
    await finished(s, asyncId);

    const bad = await s.api('/api/v1/functions/traced/invoke', {
      method: 'POST',
      json: { n: 1 },
      headers: { traceparent: `00-${'0'.repeat(32)}-${sync.parent}-01` },
    });
    assert.equal(bad.status, 200, 'a bad traceparent is ignored, never refused');
    badHeaderTrace = TRACEPARENT.exec(bad.headers.get('traceparent') ?? '')?.[1] ?? '';
    assert.equal((await record(s, bad.headers.get('x-invocation-id') as string)).traceId, badHeaderTrace);

    // Each on a connection of its own, so both threads serve some.
    const before = (await s.server.threads?.stats())?.[0]?.served ?? 0;
    for (let i = 0; i < 30; i++) {
      const traceId = randomHex(16);
      const status = await postOnce(
        s,
        '/api/v1/functions/traced/invoke',
        traceparentOf(traceId, randomHex(8)),
      );
      assert.equal(status, 200);
      spread.push(traceId);
    }
    servedOnThread = ((await s.server.threads?.stats())?.[0]?.served ?? 0) - before;

    // A refusal carries the header too; a function cannot answer with a traceparent of its own.
    const missing = await s.api('/api/v1/functions/ghost/invoke', { method: 'POST', json: 1 });
    assert.equal(missing.status, 404);
    refusedParent = missing.headers.get('traceparent') ?? '';
    const spoofing = await s.api('/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'spoofer',
        runtime: 'js',
        public: true,
        code: "export default () => ({ statusCode: 200, headers: { TraceParent: '00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01' }, body: 'x' })",
      },
    });
    assert.equal(spoofing.status, 201, await spoofing.text());
    const spoofed = await fetch(`${s.url}/fn/spoofer`);
    assert.equal(spoofed.status, 200);
    spoofedParent = spoofed.headers.get('traceparent') ?? '';

    records = [await record(s, syncId), await record(s, asyncId)];
    // Closed at once: the spans still batched in each thread leave at shutdown.
    await s.server.close();
  });
  after(async () => {
    rmSync(s.dataDir, { recursive: true, force: true });
    await collector?.close();
  });

  it('answers with a traceparent of the caller trace and records its id (sync)', async () => {
    const match = TRACEPARENT.exec(syncResponseParent);
    assert.ok(match, `traceparent on the response: ${syncResponseParent}`);
    assert.equal(match[1], sync.traceId);
    assert.notEqual(match[2], sync.parent, 'the response names the gateway span, not the caller');
    const spans = collector.trace(sync.traceId);
    const server = only(spans, 'POST /api/v1/functions/:name/invoke');
    assert.equal(server.spanId, match[2]);
    assert.equal(server.parentSpanId, sync.parent);
    assert.equal(server.kind, 2);
    assert.equal(server.serviceName, 'faas');
    assert.equal(server.attributes['faas.invocation_id'], syncId);
    assert.equal(server.attributes['faas.invoked_name'], 'traced');
    assert.equal(server.attributes['faas.version'], 1);
    assert.equal(server.attributes['faas.outcome'], 'succeeded');
    assert.equal(server.attributes['http.response.status_code'], 200);
    assert.equal(server.attributes['http.route'], '/api/v1/functions/:name/invoke');
    only(spans, 'faas.auth', server);
    const runtime = only(spans, 'faas.runtime.invoke', server);
    assert.equal(runtime.attributes['faas.runtime'], 'js');
    assert.equal(runtime.attributes['faas.outcome'], 'succeeded');
    // Written after the answer, in a batch, by the main thread: still a span of this request.
    const write = only(spans, 'faas.store.write', server);
    assert.equal(write.attributes['db.operation.name'], 'createInvocations');
  });

  it('an async invocation carries the trace through the queue: the attempt joins the caller trace', async () => {
    assert.equal(TRACEPARENT.exec(asyncResponseParent)?.[1], async_.traceId);
    const spans = collector.trace(async_.traceId);
    const server = only(spans, 'POST /api/v1/functions/:name/invoke');
    assert.equal(server.parentSpanId, async_.parent);
    assert.equal(server.attributes['faas.invocation_id'], asyncId);
    assert.equal(server.attributes['http.response.status_code'], 202);
    const enqueue = only(spans, 'faas.enqueue', server);
    assert.equal(enqueue.kind, 4);
    const create = only(spans, 'faas.store.write', enqueue);
    assert.equal(create.attributes['db.operation.name'], 'createInvocation');
    const attempt = only(spans, 'faas.attempt', enqueue);
    assert.equal(attempt.kind, 5);
    assert.equal(attempt.attributes['faas.invocation_id'], asyncId);
    assert.equal(attempt.attributes['faas.attempt'], 1);
    assert.equal(attempt.attributes['faas.outcome'], 'succeeded');
    only(spans, 'faas.slot.wait', attempt);
    assert.equal(only(spans, 'faas.runtime.invoke', attempt).attributes['faas.outcome'], 'succeeded');
    const writes = spans.filter((x) => x.name === 'faas.store.write' && x.parentSpanId === attempt.spanId);
    assert.deepEqual(
      writes.map((w) => w.attributes['db.operation.name']),
      ['recordAttempt', 'recordAttempt'],
      'the attempt recorded running, then its result',
    );
  });

  it('the invocation records keep the caller trace id, sync and async', () => {
    assert.deepEqual(
      records.map((r) => [r.id, r.traceId]),
      [
        [syncId, sync.traceId],
        [asyncId, async_.traceId],
      ],
    );
  });

  it('exports the spans of every thread, none lost at shutdown', () => {
    assert.ok(servedOnThread > 0 && servedOnThread < 30, `the gateway thread served ${servedOnThread} of 30`);
    const lost = spread.filter(
      (traceId) => !collector.trace(traceId).some((x) => x.name.startsWith('POST ')),
    );
    assert.deepEqual(lost, []);
    for (const traceId of spread) {
      only(collector.trace(traceId), 'faas.runtime.invoke');
      only(collector.trace(traceId), 'faas.store.write');
    }
  });

  it('a refused request answers with its traceparent; its span names the error but is not failed', () => {
    const traceId = TRACEPARENT.exec(refusedParent)?.[1] ?? '';
    assert.match(traceId, /^[0-9a-f]{32}$/);
    const server = only(collector.trace(traceId), 'POST /api/v1/functions/:name/invoke');
    assert.equal(server.attributes['http.response.status_code'], 404);
    assert.equal(server.attributes['error.type'], 'FAAS_ERR_FUNCTION_NOT_FOUND');
    assert.equal(server.statusCode, 0);
  });

  it("a function's own traceparent header is replaced by the platform's", () => {
    const match = TRACEPARENT.exec(spoofedParent);
    assert.ok(match, spoofedParent);
    assert.notEqual(match[1], 'a'.repeat(32));
    const server = only(collector.trace(match[1] as string), 'GET /fn/:name');
    assert.equal(server.spanId, match[2]);
    assert.equal(server.attributes['faas.trigger'], 'http');
  });

  it('a bad traceparent starts a trace of its own', () => {
    assert.match(badHeaderTrace, /^[0-9a-f]{32}$/);
    assert.ok(
      collector.trace(badHeaderTrace).some((x) => x.parentSpanId === ''),
      'a root span',
    );
  });

  it('sent only OTLP/JSON to /v1/traces', () => {
    assert.equal(collector.refused, 0);
  });
});

describe('traces: the async failure path', () => {
  let collector: OtlpCollector;
  let s: TestServer;
  const caller = { traceId: randomHex(16), parent: randomHex(8) };
  let id = '';
  let record_: Invocation;

  before(async () => {
    collector = await OtlpCollector.start();
    s = await startTestServer({
      otlpEndpoint: collector.url,
      queuePollMs: 50,
      retryBaseDelayMs: 20,
      retryMaxDelayMs: 100,
    });
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'fails',
        runtime: 'js',
        maxRetries: 1,
        code: 'export default () => { throw new TypeError("nope") }',
      },
    });
    assert.equal(res.status, 201, await res.text());
    const queued = await s.api('/api/v1/functions/fails/invoke?async=true', {
      method: 'POST',
      json: {},
      headers: { traceparent: traceparentOf(caller.traceId, caller.parent) },
    });
    assert.equal(queued.status, 202);
    id = ((await queued.json()) as { invocationId: string }).invocationId;
    record_ = await finished(s, id);
    await s.server.close();
  });
  after(async () => {
    rmSync(s.dataDir, { recursive: true, force: true });
    await collector?.close();
  });

  it('a failed attempt is followed by a retry span, the last one by a dead-letter span, in the caller trace', () => {
    assert.equal(record_.status, 'dead_lettered');
    assert.equal(record_.attempts, 2);
    const spans = collector.trace(caller.traceId);
    const enqueue = only(spans, 'faas.enqueue');
    const attempts = spans.filter((x) => x.name === 'faas.attempt' && x.parentSpanId === enqueue.spanId);
    attempts.sort((a, b) => Number(a.attributes['faas.attempt']) - Number(b.attributes['faas.attempt']));
    assert.deepEqual(
      attempts.map((a) => [a.attributes['faas.attempt'], a.attributes['faas.outcome'], a.statusCode]),
      [
        [1, 'failed', 2],
        [2, 'failed', 2],
      ],
      names(spans),
    );
    const [first, last] = attempts as [ReceivedSpan, ReceivedSpan];

    const retry = only(spans, 'faas.retry.scheduled', first);
    assert.equal(retry.attributes['faas.invocation_id'], id);
    assert.equal(retry.attributes['faas.invoked_name'], 'fails');
    assert.equal(retry.attributes['faas.version'], 1);
    assert.equal(retry.attributes['faas.attempt'], 1);
    assert.equal(retry.attributes['error.type'], 'TypeError');
    const delay = retry.attributes['faas.retry.delay_ms'];
    assert.ok(typeof delay === 'number' && delay >= 0 && delay <= 100, `retry delay ${delay}`);
    assert.equal(retry.statusCode, 0, 'a retry is not a failure of its own');
    assert.equal(only(spans, 'faas.store.write', retry).attributes['db.operation.name'], 'recordAttempt');
    assert.equal(
      spans.filter((x) => x.name === 'faas.dead_letter' && x.parentSpanId === first.spanId).length,
      0,
    );

    const dead = only(spans, 'faas.dead_letter', last);
    assert.equal(dead.attributes['faas.invocation_id'], id);
    assert.equal(dead.attributes['faas.attempt'], 2);
    assert.equal(dead.attributes['error.type'], 'TypeError');
    assert.equal(dead.attributes['faas.retry.delay_ms'], undefined);
    assert.equal(dead.statusCode, 2, 'a dead letter ends the invocation failed');
    assert.equal(only(spans, 'faas.store.write', dead).attributes['db.operation.name'], 'recordAttempt');
    assert.equal(
      spans.filter((x) => x.name === 'faas.retry.scheduled' && x.parentSpanId === last.spanId).length,
      0,
    );
  });
});

describe('traces: OTEL_TRACES_SAMPLER=parentbased_traceidratio, OTEL_TRACES_SAMPLER_ARG=0', () => {
  let collector: OtlpCollector;
  let s: TestServer;
  const sampled = { traceId: randomHex(16), parent: randomHex(8) };
  const unsampled = { traceId: randomHex(16), parent: randomHex(8) };
  let sampledAnswer = '';
  let unsampledAnswer = '';
  let newTraceAnswer = '';
  let newTraceRecord: Invocation;

  before(async () => {
    collector = await OtlpCollector.start();
    s = await startTestServer({
      otlpEndpoint: collector.url,
      otelTracesSampler: 'parentbased_traceidratio',
      otelTracesSamplerArg: 0,
    });
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'sampled', runtime: 'js', code: 'export default (e) => e' },
    });
    assert.equal(res.status, 201, await res.text());
    const call = async (traceparent?: string) => {
      const answer = await s.api('/api/v1/functions/sampled/invoke', {
        method: 'POST',
        json: 1,
        ...(traceparent ? { headers: { traceparent } } : {}),
      });
      assert.equal(answer.status, 200);
      return answer;
    };
    sampledAnswer =
      (await call(traceparentOf(sampled.traceId, sampled.parent))).headers.get('traceparent') ?? '';
    unsampledAnswer =
      (await call(`00-${unsampled.traceId}-${unsampled.parent}-00`)).headers.get('traceparent') ?? '';
    const fresh = await call();
    newTraceAnswer = fresh.headers.get('traceparent') ?? '';
    newTraceRecord = await record(s, fresh.headers.get('x-invocation-id') as string);
    await s.server.close();
  });
  after(async () => {
    rmSync(s.dataDir, { recursive: true, force: true });
    await collector?.close();
  });

  it("a caller's sampled trace is recorded: the parent decides", () => {
    assert.equal(TRACEPARENT.exec(sampledAnswer)?.[1], sampled.traceId);
    const server = only(collector.trace(sampled.traceId), 'POST /api/v1/functions/:name/invoke');
    assert.equal(server.parentSpanId, sampled.parent);
    only(collector.trace(sampled.traceId), 'faas.runtime.invoke', server);
  });

  it('a trace that starts here, or that its caller does not sample, records no span but keeps its id', () => {
    const fresh = /^00-([0-9a-f]{32})-([0-9a-f]{16})-00$/.exec(newTraceAnswer);
    assert.ok(fresh, `the answer's traceparent says not sampled: ${newTraceAnswer}`);
    assert.equal(newTraceRecord.traceId, fresh[1], 'the record keeps the trace id');
    assert.deepEqual(collector.trace(fresh[1] as string), []);
    assert.match(unsampledAnswer, new RegExp(`^00-${unsampled.traceId}-[0-9a-f]{16}-00$`));
    assert.deepEqual(collector.trace(unsampled.traceId), []);
    assert.deepEqual(
      collector.spans.map((x) => x.traceId).filter((id) => id !== sampled.traceId),
      [],
      'only the sampled trace was exported',
    );
  });
});

describe('traces: off without an OTLP endpoint', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({});
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'plain', runtime: 'js', code: 'export default (e) => e' },
    });
    assert.equal(res.status, 201);
  });
  after(() => s?.close());

  it('js functions get the trace id as context.traceId, sync and async', async () => {
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'ctx', runtime: 'js', code: 'export default (e, context) => context.traceId ?? null' },
    });
    assert.equal(res.status, 201);
    const traceId = randomHex(16);
    const headers = { traceparent: traceparentOf(traceId, randomHex(8)) };
    const sync = await s.api('/api/v1/functions/ctx/invoke', { method: 'POST', json: 1, headers });
    assert.equal(await sync.json(), traceId);
    const queued = await s.api('/api/v1/functions/ctx/invoke?async=true', {
      method: 'POST',
      json: 1,
      headers,
    });
    const { invocationId } = (await queued.json()) as { invocationId: string };
    assert.equal((await finished(s, invocationId)).result, traceId);
    const none = await s.api('/api/v1/functions/ctx/invoke', { method: 'POST', json: 1 });
    assert.equal(await none.json(), null);
  });

  it('records the caller trace id, writes no traceparent, and starts no trace of its own', async () => {
    const traceId = randomHex(16);
    const traced = await s.api('/api/v1/functions/plain/invoke', {
      method: 'POST',
      json: 1,
      headers: { traceparent: traceparentOf(traceId, randomHex(8)) },
    });
    assert.equal(traced.status, 200);
    assert.equal(traced.headers.get('traceparent'), null);
    assert.equal((await record(s, traced.headers.get('x-invocation-id') as string)).traceId, traceId);

    const queued = await s.api('/api/v1/functions/plain/invoke?async=true', {
      method: 'POST',
      json: 1,
      headers: { traceparent: traceparentOf(traceId, randomHex(8)) },
    });
    const { invocationId } = (await queued.json()) as { invocationId: string };
    assert.equal((await finished(s, invocationId)).traceId, traceId);

    const plain = await s.api('/api/v1/functions/plain/invoke', { method: 'POST', json: 1 });
    assert.equal(plain.headers.get('traceparent'), null);
    assert.equal((await record(s, plain.headers.get('x-invocation-id') as string)).traceId, undefined);
  });
});

describe('traces: container functions', { skip: engineSkipReason() }, () => {
  it('the call to the in-container agent is a span under the runtime call', async () => {
    const collector = await OtlpCollector.start();
    const s = await startTestServer({ otlpEndpoint: collector.url });
    try {
      const res = await s.api('/api/v1/functions', {
        method: 'POST',
        json: { name: 'in-node', runtime: 'node', code: 'export default async (e) => e;' },
      });
      assert.equal(res.status, 201, await res.text());
      const traceId = randomHex(16);
      const call = await s.api('/api/v1/functions/in-node/invoke', {
        method: 'POST',
        json: { n: 1 },
        headers: { traceparent: traceparentOf(traceId, randomHex(8)) },
      });
      assert.equal(call.status, 200, await call.clone().text());
      await s.server.close();
      const spans = collector.trace(traceId);
      const server = only(spans, 'POST /api/v1/functions/:name/invoke');
      const runtime = only(spans, 'faas.runtime.invoke', server);
      assert.equal(runtime.attributes['faas.runtime'], 'node');
      const agent = only(spans, 'faas.agent.call', runtime);
      assert.equal(agent.kind, 3);
      assert.equal(agent.statusCode, 0);
    } finally {
      rmSync(s.dataDir, { recursive: true, force: true });
      await collector.close();
    }
  });
});

describe('traces: a collector that does not answer', () => {
  it('costs the invokes nothing, and the server still closes', async () => {
    // Nothing listens there: every export is refused.
    const s = await startTestServer({ otlpEndpoint: 'http://127.0.0.1:9', gatewayThreads: 2 });
    try {
      const res = await s.api('/api/v1/functions', {
        method: 'POST',
        json: { name: 'unheard', runtime: 'js', code: 'export default (e) => e' },
      });
      assert.equal(res.status, 201);
      for (let i = 0; i < 5; i++) {
        const call = await s.api('/api/v1/functions/unheard/invoke', { method: 'POST', json: i });
        assert.equal(call.status, 200);
        assert.match(call.headers.get('traceparent') ?? '', TRACEPARENT);
      }
    } finally {
      await s.close();
    }
  });
});
