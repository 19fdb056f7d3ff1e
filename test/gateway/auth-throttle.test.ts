import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.ts';

async function errorOf(res: Response) {
  return ((await res.json()) as { error: { code: string; details?: { retryAfterSeconds?: number } } }).error;
}

describe('failed authentication is throttled per client address', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ authFailureLimit: 3, authFailureWindowMs: 60_000 });
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'echo', runtime: 'js', code: 'export default (e) => e' },
    });
    assert.equal(res.status, 201);
  });
  after(() => s.close());

  it('past the limit 429 with Retry-After, through the router and the fast invoke path alike', async () => {
    // The admin key is in use: it keeps working while guesses from the same address are refused.
    assert.equal((await s.api('/api/v1/functions')).status, 200);
    // Failures on both paths draw on one allowance: the fast path (sync invoke) and the router.
    const invoke = (key: string | null, headers: Record<string, string> = {}) =>
      s.api('/api/v1/functions/echo/invoke', { method: 'POST', key, headers });
    assert.equal((await invoke('faas_guess_1')).status, 401);
    assert.equal((await s.api('/api/v1/functions', { key: 'faas_guess_2' })).status, 401);
    assert.equal(
      (await s.api('/api/v1/keys', { key: null, headers: { authorization: 'Bearer' } })).status,
      401,
    );

    for (const res of [
      await invoke('faas_guess_4'),
      await s.api('/api/v1/functions', { key: 'faas_guess_5' }),
    ]) {
      assert.equal(res.status, 429);
      const retryAfter = Number(res.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 20, `Retry-After ${retryAfter}`);
      const err = await errorOf(res);
      assert.equal(err.code, 'FAAS_ERR_AUTH_THROTTLED');
      assert.equal(err.details?.retryAfterSeconds, retryAfter);
    }
    // A request without a key guesses nothing: still the plain 401.
    assert.equal(
      (await errorOf(await s.api('/api/v1/functions', { key: null }))).code,
      'FAAS_ERR_UNAUTHORIZED',
    );

    // Successful authentication is not slowed, on either path.
    assert.equal((await s.api('/api/v1/functions')).status, 200);
    const ok = await s.api('/api/v1/functions/echo/invoke', { method: 'POST', json: { n: 1 } });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { n: 1 });
    // X-Forwarded-For over TCP is the client's own word and changes nothing.
    assert.equal((await invoke('faas_guess_6', { 'x-forwarded-for': '203.0.113.5' })).status, 429);
  });
});

describe('behind a trusted proxy (FAAS_TRUSTED_PROXIES), each client is counted as itself', () => {
  let s: TestServer;
  // The test client stands for an Ingress on 127.0.0.1 that appends each client's address.
  before(async () => {
    s = await startTestServer({
      authFailureLimit: 3,
      authFailureWindowMs: 60_000,
      trustedProxies: '127.0.0.1, ::1',
    });
  });
  after(() => s.close());

  it("one client's wrong keys lock out that client only, through the router and the fast path", async () => {
    const from = (address: string, key: string, path = '/api/v1/functions') =>
      s.api(path, { key, headers: { 'x-forwarded-for': address } });
    for (let i = 0; i < 3; i++) assert.equal((await from('203.0.113.5', `faas_guess_${i}`)).status, 401);
    assert.equal((await from('203.0.113.5', 'faas_guess_3')).status, 429);
    // What a client writes before the proxy's entry is its own word: it changes nothing.
    assert.equal((await from('198.51.100.1, 203.0.113.5', 'faas_guess_4')).status, 429);
    // Another client behind the same proxy is not held back.
    assert.equal((await from('203.0.113.6', 'faas_guess_5')).status, 401);
    const invoke = await s.api('/api/v1/functions/none/invoke', {
      method: 'POST',
      key: 'faas_guess_6',
      headers: { 'x-forwarded-for': '203.0.113.7' },
    });
    assert.equal(invoke.status, 401);
  });
});
