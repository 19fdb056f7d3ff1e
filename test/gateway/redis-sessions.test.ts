// Console sessions in Redis (FAAS_QUEUE_URL): two servers on one Redis are two gateways behind a
// load balancer; a restart signs no one out; Redis unreachable is a 503, never a 500 nor "signed in".
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  dropQueueKeys,
  NO_REDIS,
  startTcpProxy,
  type TcpProxy,
  TEST_REDIS_URL,
} from '../../packages/server/src/queue/redis/test-support.ts';
import { ADMIN_KEY, request, startTestServer, type TestServer } from '../support/server.ts';
import { upgradeStatus } from '../support/upgrade.ts';

const PREFIX = `test:redis-sessions:${process.pid}`;

interface SignedIn {
  cookie: string;
  csrf: string;
}

async function signIn(s: TestServer): Promise<SignedIn> {
  const res = await request(s.url, '/api/v1/session', {
    key: null,
    method: 'POST',
    json: { key: ADMIN_KEY },
  });
  assert.equal(res.status, 201, await res.clone().text());
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] as string;
  return { cookie, csrf: ((await res.json()) as { csrfToken: string }).csrfToken };
}

/** A request as the browser makes it: the cookie, no key, and the CSRF token when asked. */
function browser(
  s: TestServer,
  session: SignedIn,
  path: string,
  init: RequestInit & { csrf?: boolean } = {},
) {
  const { csrf = false, ...rest } = init;
  const headers = new Headers(rest.headers);
  headers.set('cookie', session.cookie);
  if (csrf) headers.set('x-csrf-token', session.csrf);
  return request(s.url, path, { ...rest, headers, key: null });
}

async function errorCode(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

describe('console sessions in Redis', { skip: TEST_REDIS_URL ? false : NO_REDIS }, () => {
  const url = TEST_REDIS_URL as string;
  let proxy: TcpProxy;
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    proxy = await startTcpProxy(url);
    // A through a proxy that can cut it from Redis; B straight to it.
    a = await startTestServer({ queueUrl: proxy.url, queuePrefix: PREFIX, gatewayThreads: 2 });
    b = await startTestServer({ queueUrl: url, queuePrefix: PREFIX });
  });
  after(async () => {
    await proxy?.restore().catch(() => undefined);
    await a?.close();
    await b?.close();
    await proxy?.close();
    await dropQueueKeys(url, PREFIX);
  });

  it('signed in on one server, reads and writes on the other; signed out there, refused on the first', async () => {
    const session = await signIn(a);
    const read = await browser(b, session, '/api/v1/session');
    assert.equal(read.status, 200, await read.clone().text());
    assert.equal(((await read.json()) as { csrfToken: string }).csrfToken, session.csrf);
    const deploy = await browser(b, session, '/api/v1/functions/from-a', {
      method: 'PUT',
      csrf: true,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ runtime: 'js', code: 'export default async () => ({ ok: true })' }),
    });
    assert.ok(deploy.status === 200 || deploy.status === 201, await deploy.text());
    const noCsrf = await browser(b, session, '/api/v1/functions/from-a', { method: 'DELETE' });
    assert.equal(noCsrf.status, 403);
    // A cookie invoke on a gateway thread of A (handed to the thread that serves sessions).
    const invoke = await browser(a, session, '/api/v1/functions/from-b/invoke', {
      method: 'POST',
      csrf: true,
    });
    assert.notEqual(invoke.status, 401);
    const out = await browser(b, session, '/api/v1/session', { method: 'DELETE', csrf: true });
    assert.equal(out.status, 204);
    const afterOut = await browser(a, session, '/api/v1/session');
    assert.equal(afterOut.status, 401);
    assert.equal((await browser(a, session, '/api/v1/functions')).status, 401);
  });

  it('a restarted server still knows the sessions signed in before', async () => {
    const session = await signIn(b);
    const dataDir = b.dataDir;
    await b.server.close();
    b = await startTestServer({ queueUrl: url, queuePrefix: PREFIX }, dataDir);
    const read = await browser(b, session, '/api/v1/functions');
    assert.equal(read.status, 200, await read.text());
  });

  it('answers 503 FAAS_ERR_STORAGE_UNAVAILABLE while Redis is unreachable, and serves again after', async () => {
    const session = await signIn(a);
    await proxy.cut();
    try {
      const signInCut = await request(a.url, '/api/v1/session', {
        key: null,
        method: 'POST',
        json: { key: ADMIN_KEY },
      });
      assert.equal(signInCut.status, 503);
      assert.equal(signInCut.headers.get('set-cookie'), null, 'no cookie for a session never stored');
      assert.equal(await errorCode(signInCut), 'FAAS_ERR_STORAGE_UNAVAILABLE');
      for (const [path, init] of [
        ['/api/v1/session', {}],
        ['/api/v1/functions', {}],
        ['/api/v1/functions/f/invoke', { method: 'POST', csrf: true }],
        ['/api/v1/session', { method: 'DELETE', csrf: true }],
      ] as const) {
        const res = await browser(a, session, path, init);
        assert.equal(res.status, 503, `${init.method ?? 'GET'} ${path}`);
        assert.equal(await errorCode(res), 'FAAS_ERR_STORAGE_UNAVAILABLE');
      }
      // A stream ticket cannot be taken either: 503 before the upgrade, not 401 nor a socket.
      assert.equal(await upgradeStatus(`${a.url}/api/v1/instances/ins_x/stream?ticket=t`), 503);
      // A key needs no session: the API goes on with a key.
      assert.equal((await a.api('/api/v1/functions')).status, 200);
    } finally {
      await proxy.restore();
    }
    let res = await browser(a, session, '/api/v1/functions');
    // ioredis reconnects in the background: at most a few tries.
    for (let i = 0; i < 50 && res.status === 503; i++) {
      await new Promise((r) => setTimeout(r, 100));
      res = await browser(a, session, '/api/v1/functions');
    }
    assert.equal(res.status, 200);
  });
});
