// Structured request logs on a real server process with two gateway threads: one JSON line per
// request, whichever thread served it, with its route, status, duration, key id and invocation id,
// and never a key, session cookie, stream ticket or anything else a request carried.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { once as onOwnConnection } from '../support/own-connection.ts';
import { ADMIN_KEY, type ServerProcess, spawnServer, tempDataDir, waitFor } from '../support/server.ts';

/** One request on a connection of its own, with the headers given and nothing else. */
const once = (
  url: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
) =>
  onOwnConnection(url, method, path, { key: null, headers, ...(body === undefined ? {} : { text: body }) });

interface RequestLine {
  level: number;
  msg: string;
  method: string;
  route: string;
  status: number;
  durationMs: number;
  keyId?: string;
  invocationId?: string;
  traceId?: string;
}

function requestLines(output: string): RequestLine[] {
  const lines: RequestLine[] = [];
  for (const text of output.split('\n')) {
    if (!text.startsWith('{')) continue;
    const line = JSON.parse(text) as RequestLine;
    if (line.msg === 'request') lines.push(line);
  }
  return lines;
}

const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };

describe('request logs', () => {
  const dataDir = tempDataDir();
  let server: ServerProcess;

  before(async () => {
    server = await spawnServer(dataDir, { FAAS_LOG_LEVEL: 'info', FAAS_GATEWAY_THREADS: '2' });
    const deployed = await once(
      server.url,
      'POST',
      '/api/v1/functions',
      admin,
      JSON.stringify({ name: 'logged', runtime: 'js', code: 'export default (e) => ({ ok: true })' }),
    );
    assert.equal(deployed.status, 201, deployed.body);
  });
  after(async () => {
    await server.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('writes one line per request, on every thread, with no secret in it', async () => {
    // A key in a body: the console's sign-in, which answers with the session cookie.
    const signedIn = await once(
      server.url,
      'POST',
      '/api/v1/session',
      { 'content-type': 'application/json' },
      JSON.stringify({ key: ADMIN_KEY }),
    );
    assert.equal(signedIn.status, 201, signedIn.body);
    const adminKeyId = (JSON.parse(signedIn.body) as { key: { id: string } }).key.id;
    const cookie = String(signedIn.headers['set-cookie']).split(';', 1)[0] as string;
    const session = cookie.split('=')[1] as string;
    assert.ok(session.length > 10);
    const listed = await once(server.url, 'GET', '/api/v1/functions', { cookie });
    assert.equal(listed.status, 200, listed.body);

    // A stream ticket in a query string, and secrets in a trigger's path, query and headers.
    const ticket = 'tkt_secret_ticket_value_5f1e';
    const streamed = await once(server.url, 'GET', `/api/v1/instances/no-such/stream?ticket=${ticket}`);
    assert.ok(streamed.status >= 400, streamed.body);
    const hooked = await once(server.url, 'GET', '/fn/logged/hook/path_secret_81c2?key=query_secret_9a7d', {
      authorization: `Bearer ${ADMIN_KEY}`,
      'x-api-key': 'header_secret_3b0e',
    });
    assert.equal(hooked.status, 200, hooked.body);

    // Invokes on connections of their own: both gateway threads and the main thread serve some.
    const invocationIds: string[] = [];
    // Each with a trace of its own: the line names the caller's trace (tracing is off here).
    const traceIdOf = (n: number) => `${'a'.repeat(30)}${n.toString(16).padStart(2, '0')}`;
    for (let n = 0; n < 12; n++) {
      const invoked = await once(
        server.url,
        'POST',
        '/api/v1/functions/logged/invoke',
        { ...admin, traceparent: `00-${traceIdOf(n)}-00f067aa0ba902b7-01` },
        JSON.stringify({ key: 'body_secret_44d1', n }),
      );
      assert.equal(invoked.status, 200, invoked.body);
      invocationIds.push(String(invoked.headers['x-invocation-id']));
    }
    const refused = await once(server.url, 'POST', '/api/v1/functions/logged/invoke', {
      authorization: 'Bearer faas_wrong_key_0000000000000000',
    });
    assert.equal(refused.status, 401, refused.body);

    const lines = await waitFor(
      async () => {
        const found = requestLines(server.output());
        const logged = new Set(found.map((l) => l.invocationId));
        return invocationIds.every((id) => logged.has(id)) && found.some((l) => l.status === 401)
          ? found
          : undefined;
      },
      15_000,
      'a line for every request',
    );

    for (const [n, id] of invocationIds.entries()) {
      const line = lines.find((l) => l.invocationId === id);
      assert.ok(line);
      assert.equal(line.traceId, traceIdOf(n));
      assert.equal(line.method, 'POST');
      assert.equal(line.route, '/api/v1/functions/:name/invoke');
      assert.equal(line.status, 200);
      assert.equal(line.keyId, adminKeyId);
      assert.equal(line.level, 30);
      assert.ok(line.durationMs >= 0);
    }
    const sessionLine = lines.find((l) => l.route === '/api/v1/functions' && l.method === 'GET');
    assert.equal(sessionLine?.keyId, adminKeyId, 'a session acts as its key');
    const streamLine = lines.find((l) => l.route === '/api/v1/instances/:id/stream');
    assert.equal(streamLine?.status, streamed.status);
    const hookLine = lines.find((l) => l.route === '/fn/:name/*');
    assert.equal(hookLine?.invocationId, hooked.headers['x-invocation-id']);
    const refusedLine = lines.find((l) => l.status === 401);
    assert.equal(refusedLine?.keyId, undefined);

    const output = server.output();
    for (const secret of [
      ADMIN_KEY,
      session,
      ticket,
      'path_secret_81c2',
      'query_secret_9a7d',
      'header_secret_3b0e',
      'body_secret_44d1',
      'faas_wrong_key',
    ]) {
      assert.ok(!output.includes(secret), `the output holds ${secret}`);
    }
  });
});

describe('request logs below their level', () => {
  it('writes none at FAAS_LOG_LEVEL=warn', async () => {
    const dataDir = tempDataDir();
    const server = await spawnServer(dataDir, { FAAS_LOG_LEVEL: 'warn', FAAS_GATEWAY_THREADS: '1' });
    try {
      for (let n = 0; n < 4; n++) {
        const health = await once(server.url, 'GET', '/api/v1/functions', admin);
        assert.equal(health.status, 200);
      }
      // The server's own lines after these requests show its output was read past them.
      await server.kill('SIGTERM');
      assert.deepEqual(requestLines(server.output()), []);
    } finally {
      await server.kill();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
