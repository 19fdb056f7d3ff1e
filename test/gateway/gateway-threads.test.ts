// Several gateway threads on one port: each connection lands on one of them (the kernel's
// choice), so every request here goes on a connection of its own, and the threads' counts
// show that the other thread served its share.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { engineSkipReason } from '../support/engine.ts';
import { type Answer, once as onOwnConnection } from '../support/own-connection.ts';
import { ADMIN_KEY, startTestServer, type TestServer, waitFor } from '../support/server.ts';

const once = (
  server: TestServer,
  method: string,
  path: string,
  body?: unknown,
  key: string | null = ADMIN_KEY,
) => onOwnConnection(server.url, method, path, { body, key });

const json = (a: Answer) => JSON.parse(a.body);

/**
 * A POST over a raw socket that reads the answer even when the server answers and closes before
 * the whole body is sent (its right with a body over the limit): node's client would see only
 * its own EPIPE then. `connection: close`: the server ends the connection after its answer.
 */
function rawPost(server: TestServer, path: string, body: Buffer): Promise<{ status: number; body: string }> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
      if (!status) return reject(new Error(`no answer: ${text.slice(0, 200)}`));
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
    socket.write(
      `POST ${path} HTTP/1.1\r\nhost: ${url.host}\r\nauthorization: Bearer ${ADMIN_KEY}\r\n` +
        `content-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`,
    );
    // Sent without a FIN: a client that half-closes has ended its request (http-server.ts), and
    // an answer made after the FIN is lost. curl and node's client do not half-close.
    socket.write(body);
  });
}

async function served(server: TestServer): Promise<{ served: number; passed: number }> {
  const stats = await (server.server.threads?.stats() ?? Promise.resolve([]));
  assert.equal(stats.length, 1, 'one thread besides the main one');
  return stats[0] as { served: number; passed: number };
}

describe('gateway threads', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ gatewayThreads: 2, concurrencyWaitMs: 50 });
  });
  after(async () => {
    await server.close();
  });

  it('serves invokes on both threads, and each invocation can be read as soon as it answered', async () => {
    const deployed = await once(server, 'POST', '/api/v1/functions', {
      name: 'echo',
      runtime: 'js',
      code: 'export default (e) => { console.log("got", e.n); return { n: e.n } }',
    });
    assert.equal(deployed.status, 201, deployed.body);
    const before = await served(server);
    for (let n = 0; n < 40; n++) {
      const invoked = await once(server, 'POST', '/api/v1/functions/echo/invoke', { n });
      assert.equal(invoked.status, 200, invoked.body);
      assert.deepEqual(json(invoked), { n });
      const id = invoked.headers['x-invocation-id'] as string;
      const read = await once(server, 'GET', `/api/v1/invocations/${id}`);
      assert.equal(read.status, 200, read.body);
      const record = json(read);
      assert.equal(record.status, 'succeeded');
      assert.deepEqual(record.result, { n });
      assert.deepEqual(
        record.logs.map((l: { message: string }) => l.message),
        [`got ${n}`],
      );
    }
    const afterwards = await served(server);
    assert.ok(afterwards.served > before.served, 'the second thread served invokes');
    assert.ok(afterwards.served < before.served + 40, 'the main thread served invokes');
    assert.ok(afterwards.passed > before.passed, 'the second thread passed reads on to the main one');
  });

  it('sees a new version, a revoked key and a deleted function on every thread at once', async () => {
    await once(server, 'POST', '/api/v1/functions', {
      name: 'versions',
      runtime: 'js',
      code: 'export default () => 1',
    });
    for (let v = 2; v <= 12; v++) {
      const put = await once(server, 'PATCH', '/api/v1/functions/versions', {
        code: `export default () => ${v}`,
      });
      assert.equal(put.status, 200, put.body);
      for (let i = 0; i < 3; i++) {
        const invoked = await once(server, 'POST', '/api/v1/functions/versions/invoke', {});
        assert.equal(json(invoked), v, `version ${v} at once`);
        assert.equal(invoked.headers['x-function-version'], String(v));
      }
    }

    const created = await once(server, 'POST', '/api/v1/keys', { name: 'short-lived' });
    assert.equal(created.status, 201, created.body);
    const { key, id } = json(created);
    for (let i = 0; i < 8; i++) {
      const ok = await once(server, 'POST', '/api/v1/functions/versions/invoke', {}, key);
      assert.equal(ok.status, 200, ok.body);
    }
    const revoked = await once(server, 'DELETE', `/api/v1/keys/${id}`);
    assert.equal(revoked.status, 204, revoked.body);
    for (let i = 0; i < 16; i++) {
      const refused = await once(server, 'POST', '/api/v1/functions/versions/invoke', {}, key);
      assert.equal(refused.status, 401, 'a revoked key is refused by every thread');
    }

    assert.equal((await once(server, 'DELETE', '/api/v1/functions/versions')).status, 204);
    for (let i = 0; i < 16; i++) {
      const gone = await once(server, 'POST', '/api/v1/functions/versions/invoke', {});
      assert.equal(gone.status, 404);
      assert.equal(json(gone).error.code, 'FAAS_ERR_FUNCTION_NOT_FOUND');
    }
  });

  it('serves HTTP triggers on both threads; a declared route comes and goes on every thread at once', async () => {
    const before = await served(server);
    for (let round = 0; round < 4; round++) {
      const deployed = await once(server, 'POST', '/api/v1/functions', {
        name: 'hello',
        runtime: 'js',
        public: true,
        routes: [`GET /hello-${round}/:who`],
        code: 'export default (e) => ({ statusCode: 200, headers: { "x-who": e.params.who }, body: `hi ${e.params.who} ${e.query.x}` })',
      });
      assert.equal(deployed.status, 201, deployed.body);
      for (let i = 0; i < 6; i++) {
        const hit = await once(server, 'GET', `/hello-${round}/ann?x=${i}`, undefined, null);
        assert.equal(hit.status, 200, hit.body);
        assert.equal(hit.body, `hi ann ${i}`);
        assert.equal(hit.headers['x-who'], 'ann');
        const direct = await once(server, 'POST', '/fn/hello', undefined, null);
        assert.equal(direct.status, 200);
      }
      assert.equal((await once(server, 'DELETE', '/api/v1/functions/hello')).status, 204);
      for (let i = 0; i < 6; i++) {
        const gone = await once(server, 'GET', `/hello-${round}/ann`, undefined, null);
        assert.equal(gone.status, 404, 'the route left every thread with its function');
        assert.equal(json(gone).error.code, 'FAAS_ERR_ROUTE_NOT_FOUND');
      }
    }
    assert.ok((await served(server)).served > before.served, 'the second thread served triggers');
  });

  it('holds a function’s max concurrency across threads', async () => {
    await once(server, 'POST', '/api/v1/functions', {
      name: 'single',
      runtime: 'js',
      maxConcurrency: 1,
      code: `export default async () => {
        const started = Date.now();
        await new Promise((r) => setTimeout(r, 150));
        return { started, ended: Date.now() };
      }`,
    });
    const before = await served(server);
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => once(server, 'POST', '/api/v1/functions/single/invoke', {})),
    );
    const ran = answers.filter((a) => a.status === 200).map(json) as Array<{
      started: number;
      ended: number;
    }>;
    const refused = answers.filter((a) => a.status === 429);
    assert.equal(ran.length + refused.length, 12, answers.map((a) => a.body).join('\n'));
    assert.ok(ran.length >= 1 && refused.length >= 1);
    for (const r of refused) assert.equal(r.headers['retry-after'], '1');
    ran.sort((a, b) => a.started - b.started);
    for (let i = 1; i < ran.length; i++) {
      const previous = ran[i - 1] as { ended: number };
      assert.ok((ran[i] as { started: number }).started >= previous.ended, 'never two at once');
    }
    assert.ok((await served(server)).served > before.served, 'the second thread took part');
  });

  it('answers a body over the limit with 413 on every thread, every time, invoke or not', async () => {
    const made = await once(server, 'POST', '/api/v1/functions', {
      name: 'sink',
      runtime: 'js',
      code: 'export default () => 1',
    });
    assert.ok(made.status === 201 || made.status === 409, made.body);
    // 7 MiB: over the default 6 MiB limit. Each on its own connection, so both threads get some.
    const big = Buffer.alloc(7 * 1024 * 1024, 0x61);
    const paths = ['/api/v1/functions/sink/invoke', '/fn/sink', '/api/v1/functions'];
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => rawPost(server, paths[i % paths.length] as string, big)),
    );
    for (const answer of answers) {
      assert.equal(answer.status, 413, answer.body);
      assert.equal(JSON.parse(answer.body).error.code, 'FAAS_ERR_BODY_TOO_LARGE');
    }
  });

  it('answers a body the router cannot parse with its 400 on every thread, never a 503', async () => {
    // The main thread answers it and closes the connection (Fastify does): a body the other
    // thread streamed on could meet the closed connection with its last write (EPIPE, a 503 for
    // 8 of 3,000 of these before it was sent whole).
    const statuses: Record<number, number> = {};
    let left = 3_000;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (left-- > 0) {
          const answer = await onOwnConnection(server.url, 'OPTIONS', '/api/v1/instances/x/files', {
            text: '{not json}',
            headers: { 'content-type': 'application/json' },
          });
          statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
        }
      }),
    );
    assert.deepEqual(statuses, { 400: 3_000 });
  });

  it('gives back the slots a thread held when it dies: the function keeps its capacity', async () => {
    const made = await once(server, 'POST', '/api/v1/functions', {
      name: 'holder',
      runtime: 'js',
      code: 'export default async (e) => { if (e.hold) await new Promise((r) => setTimeout(r, 1000)); return "ok" }',
      maxConcurrency: 1,
    });
    assert.equal(made.status, 201, made.body);
    const threads = server.server.threads;
    assert.ok(threads);
    // Hold the one slot from the other thread: new connections until one lands there.
    let onThread = false;
    for (let tries = 0; tries < 30 && !onThread; tries++) {
      const before = await served(server);
      // The one that lands on the killed thread loses its connection.
      const holding = once(server, 'POST', '/api/v1/functions/holder/invoke', { hold: true }).catch(
        () => undefined,
      );
      await new Promise((r) => setTimeout(r, 200));
      onThread = (await served(server)).served > before.served;
      if (!onThread) await holding;
    }
    assert.ok(onThread, 'a request landed on the other thread');
    // Killed while its invocation runs: the answer never comes back to it, nor the slot's release.
    await threads.terminate(1);
    await new Promise((r) => setTimeout(r, 1200));
    const answer = await waitFor(async () => {
      const a = await once(server, 'POST', '/api/v1/functions/holder/invoke', {});
      return a.status === 200 ? a : undefined;
    }, 5000);
    assert.equal(json(answer), 'ok');
  });

  it('passes the rest of the API on to the main thread: async invokes, the docs, WebSocket upgrades', async () => {
    await once(server, 'POST', '/api/v1/functions', {
      name: 'later',
      runtime: 'js',
      code: 'export default (e) => e.n * 2',
    });
    const ids: string[] = [];
    for (let n = 0; n < 10; n++) {
      const queued = await once(server, 'POST', '/api/v1/functions/later/invoke?async=true', { n });
      assert.equal(queued.status, 202, queued.body);
      ids.push(json(queued).invocationId);
    }
    for (const [n, id] of ids.entries()) {
      let record: { status: string; result?: unknown } = { status: 'queued' };
      for (let i = 0; i < 100 && record.status !== 'succeeded'; i++) {
        record = json(await once(server, 'GET', `/api/v1/invocations/${id}`));
        if (record.status !== 'succeeded') await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(record.result, n * 2);
    }
    for (let i = 0; i < 6; i++) {
      const docs = await once(server, 'GET', '/docs/json', undefined, null);
      assert.equal(docs.status, 200);
      assert.ok(json(docs).paths['/api/v1/functions/{name}/invoke']);
    }
    for (let i = 0; i < 6; i++) {
      const status = await new Promise<number>((resolve, reject) => {
        const url = new URL(server.url);
        const req = httpRequest({
          host: url.hostname,
          port: url.port,
          path: '/api/v1/instances/inst_none/stream',
          agent: false,
          headers: {
            authorization: `Bearer ${ADMIN_KEY}`,
            connection: 'Upgrade',
            upgrade: 'websocket',
            'sec-websocket-version': '13',
            'sec-websocket-key': Buffer.from('0123456789abcdef').toString('base64'),
          },
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('upgrade', (_res, socket) => {
          socket.destroy();
          resolve(101);
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(status, 404, 'the main thread answers the upgrade of an unknown instance');
    }
  });

  it('bad input on the fast path gets the router’s answers', async () => {
    await once(server, 'POST', '/api/v1/functions', {
      name: 'strict',
      runtime: 'js',
      code: 'export default (e) => e',
    });
    for (let i = 0; i < 6; i++) {
      const noKey = await once(server, 'POST', '/api/v1/functions/strict/invoke', {}, null);
      assert.equal(noKey.status, 401);
      assert.equal(json(noKey).error.code, 'FAAS_ERR_UNAUTHORIZED');
      const badVersion = await once(server, 'POST', '/api/v1/functions/strict/invoke?version=0', {});
      assert.equal(badVersion.status, 422);
      const noVersion = await once(server, 'POST', '/api/v1/functions/strict/invoke?version=9', {});
      assert.equal(noVersion.status, 404);
      assert.equal(json(noVersion).error.code, 'FAAS_ERR_VERSION_NOT_FOUND');
      const pinned = await once(server, 'POST', '/api/v1/functions/strict:1/invoke', { a: 1 });
      assert.deepEqual(json(pinned), { a: 1 });
    }
  });
});

describe('gateway threads and container functions', { skip: engineSkipReason() }, () => {
  it('a container function invoked on another thread runs on the main one, with the body read there', async () => {
    const server = await startTestServer({ gatewayThreads: 2 });
    try {
      const deployed = await once(server, 'POST', '/api/v1/functions', {
        name: 'node-double',
        runtime: 'node',
        code: 'export default async (event) => ({ doubled: event.n * 2 })',
      });
      assert.equal(deployed.status, 201, deployed.body);
      const before = await served(server);
      for (let n = 0; n < 12; n++) {
        const invoked = await once(server, 'POST', '/api/v1/functions/node-double/invoke', { n });
        assert.equal(invoked.status, 200, invoked.body);
        assert.deepEqual(json(invoked), { doubled: n * 2 });
      }
      const afterwards = await served(server);
      assert.equal(afterwards.served, before.served, 'the second thread runs no container function');
      assert.ok(afterwards.passed > before.passed, 'it passed some on');
    } finally {
      await server.close();
    }
  });
});

describe('gateway threads at close', () => {
  it('records every invocation the threads answered before the server closed', async () => {
    const server = await startTestServer({ gatewayThreads: 2 });
    const { dataDir } = server;
    await once(server, 'POST', '/api/v1/functions', {
      name: 'count',
      runtime: 'js',
      code: 'export default () => 1',
    });
    const ids = new Set<string>();
    await Promise.all(
      Array.from({ length: 30 }, async () => {
        const a = await once(server, 'POST', '/api/v1/functions/count/invoke', {});
        ids.add(a.headers['x-invocation-id'] as string);
      }),
    );
    await server.server.close();
    const again = await startTestServer({}, dataDir);
    try {
      const listed = json(await once(again, 'GET', '/api/v1/invocations?functionName=count&limit=100'));
      assert.deepEqual(new Set(listed.items.map((i: { id: string }) => i.id)), ids);
    } finally {
      await again.close();
    }
  });
});
