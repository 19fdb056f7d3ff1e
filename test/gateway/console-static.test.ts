import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CONSOLE_DIST } from '../../packages/server/src/gateway/console-static.ts';
import { request, startTestServer, type TestServer } from '../support/server.ts';

// npm install builds the console (the root's prepare script); without it there is nothing to test.
const built = existsSync(join(CONSOLE_DIST, 'index.html'));

describe('the web console’s files', () => {
  let s: TestServer;
  before(async () => {
    assert.ok(built, `the console is not built in ${CONSOLE_DIST}: run npm install (or npm run prepare)`);
    s = await startTestServer();
  });
  after(async () => s?.close());

  const get = (path: string, headers: Record<string, string> = {}) =>
    request(s.url, path, { key: null, headers });

  it('serves index.html at / and at the console’s routes, revalidated every time', async () => {
    for (const path of [
      '/',
      '/console',
      '/console/',
      '/console/functions/hello',
      '/console/invocations?status=failed',
    ]) {
      const res = await get(path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
      assert.equal(res.headers.get('cache-control'), 'no-cache', path);
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
      assert.match(await res.text(), /<div id="app">/);
    }
  });

  it('serves the hashed assets for a year, gzipped when asked', async () => {
    const assets = readdirSync(join(CONSOLE_DIST, 'assets')).filter((f) => f.endsWith('.js'));
    assert.ok(assets.length > 0);
    const plain = await get(`/console/assets/${assets[0]}`, { 'accept-encoding': 'identity' });
    assert.equal(plain.status, 200);
    assert.match(plain.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal(plain.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(plain.headers.get('content-encoding'), null);
    const raw = await fetch(`${s.url}/console/assets/${assets[0]}`, {
      headers: { 'accept-encoding': 'gzip' },
    });
    assert.equal(raw.headers.get('content-encoding'), 'gzip');
    assert.equal(await raw.text(), await plain.text(), 'the same file');
  });

  it('answers a missing asset with the JSON 404, never index.html; the API’s 404s stay JSON', async () => {
    for (const path of ['/console/assets/index-gone.js', '/console/favicon.png', '/api/v1/nope', '/docsx']) {
      const res = await get(path);
      assert.equal(res.status, 404, path);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/, path);
      const body = (await res.json()) as { error: { code: string } };
      assert.match(body.error.code, /^FAAS_ERR_(NOT_FOUND|ROUTE_NOT_FOUND)$/);
    }
  });

  it('keeps /console for itself: a function may not declare a route there', async () => {
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'grab', runtime: 'js', code: 'export default () => 1', routes: ['GET /console/x'] },
    });
    assert.equal(res.status, 422);
  });
});
