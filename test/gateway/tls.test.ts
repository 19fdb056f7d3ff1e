import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '@faas/core';
import { ADMIN_KEY, startTestServer, type TestServer } from '../support/server.ts';

/** Issue 19's transport: FAAS_TLS_CERT / FAAS_TLS_KEY serve HTTPS on every gateway thread. */
describe('HTTPS (FAAS_TLS_CERT, FAAS_TLS_KEY)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'faas-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  let s: TestServer;

  const get = (
    url: string,
    path: string,
    headers: Record<string, string> = {},
    method = 'GET',
    body?: string,
  ) =>
    new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
      const target = new URL(path, url);
      const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(target, { method, headers, ca: readFileSync(cert), agent: false }, (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });

  before(async () => {
    execFileSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-days',
      '1',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    s = await startTestServer({ tlsCert: cert, tlsKey: key, gatewayThreads: 2 });
  });
  after(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the API, invokes and the console over HTTPS on every thread, and no plain HTTP', async () => {
    assert.match(s.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const auth = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
    const made = await get(
      s.url,
      '/api/v1/functions',
      auth,
      'POST',
      JSON.stringify({ name: 'over-tls', runtime: 'js', code: 'export default () => "secure"' }),
    );
    assert.equal(made.status, 201, made.body);
    // Enough calls that both threads (SO_REUSEPORT) answer some.
    for (let i = 0; i < 20; i++) {
      const res = await get(s.url, '/api/v1/functions/over-tls/invoke', auth, 'POST', '{}');
      assert.equal(res.status, 200, res.body);
      assert.equal(res.body, '"secure"');
      assert.equal((await get(s.url, '/health')).status, 200);
    }
    await assert.rejects(get(s.url.replace('https:', 'http:'), '/health'));
  });

  it('marks the console session cookie Secure, whichever thread answers', async () => {
    for (let i = 0; i < 6; i++) {
      const res = await get(
        s.url,
        '/api/v1/session',
        { 'content-type': 'application/json' },
        'POST',
        JSON.stringify({ key: ADMIN_KEY }),
      );
      assert.equal(res.status, 201, res.body);
      assert.match(String(res.headers['set-cookie']), /; Secure/);
    }
  });

  it('refuses a certificate without its key, and a file it cannot read', async () => {
    assert.throws(() => loadConfig({}, { tlsCert: cert }), /FAAS_TLS_CERT and FAAS_TLS_KEY/);
    await assert.rejects(
      startTestServer({ tlsCert: join(dir, 'missing.pem'), tlsKey: key }),
      /Cannot read the TLS certificate/,
    );
  });
});
