import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { engineSkipReason } from '../support/engine.ts';
import { ADMIN_KEY, request, startTestServer, type TestServer } from '../support/server.ts';
import { upgradeStatus } from '../support/upgrade.ts';

interface SignedIn {
  cookie: string;
  csrf: string;
  setCookie: string;
}

async function signIn(s: TestServer, key = ADMIN_KEY): Promise<SignedIn> {
  const res = await request(s.url, '/api/v1/session', { key: null, method: 'POST', json: { key } });
  assert.equal(res.status, 201, await res.clone().text());
  const setCookie = res.headers.get('set-cookie') ?? '';
  const body = (await res.json()) as { csrfToken: string };
  return { cookie: setCookie.split(';')[0] as string, csrf: body.csrfToken, setCookie };
}

/** A request made as the browser makes it: the cookie, no key; the CSRF token when given. */
function browser(
  s: TestServer,
  session: SignedIn,
  path: string,
  init: RequestInit & { json?: unknown; csrf?: boolean } = {},
) {
  const { csrf = false, ...rest } = init;
  const headers = new Headers(rest.headers);
  headers.set('cookie', session.cookie);
  if (csrf) headers.set('x-csrf-token', session.csrf);
  return request(s.url, path, { ...rest, headers, key: null });
}

const fn = {
  runtime: 'js',
  code: 'export default async (e) => { console.log("seen", e.n); return { n: e.n }; }',
};

describe('console sessions', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => s?.close());

  it('signs in with a key for an HttpOnly, SameSite=Strict cookie that is not the key', async () => {
    const session = await signIn(s);
    assert.match(session.setCookie, /^faas_session=[A-Za-z0-9_-]{20,};/);
    assert.match(session.setCookie, /; HttpOnly/);
    assert.match(session.setCookie, /; SameSite=Strict/);
    assert.doesNotMatch(session.setCookie, /; Secure/, 'plain http: no Secure');
    assert.ok(!session.setCookie.includes(ADMIN_KEY));
    const me = await browser(s, session, '/api/v1/session');
    assert.equal(me.status, 200);
    // The CSRF token and the API's answers are no cache's to keep.
    assert.equal(me.headers.get('cache-control'), 'no-store');
    assert.equal((await s.api('/api/v1/functions')).headers.get('cache-control'), 'no-store');
    const body = (await me.json()) as { key: { name: string; role: string }; csrfToken: string };
    assert.equal(body.key.role, 'admin');
    assert.equal(body.csrfToken, session.csrf);
    assert.ok(!JSON.stringify(body).includes(ADMIN_KEY));
  });

  it('sets a Secure cookie for a page served over https by a proxy that ends TLS', async () => {
    const res = await request(s.url, '/api/v1/session', {
      key: null,
      method: 'POST',
      json: { key: ADMIN_KEY },
      headers: { origin: 'https://console.example.com' },
    });
    assert.equal(res.status, 201, await res.clone().text());
    assert.match(res.headers.get('set-cookie') ?? '', /; Secure/);
  });

  it('refuses a wrong key (401) and an anonymous session read (401)', async () => {
    const res = await request(s.url, '/api/v1/session', {
      key: null,
      method: 'POST',
      json: { key: 'faas_nope' },
    });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('set-cookie'), null);
    assert.equal((await request(s.url, '/api/v1/session', { key: null })).status, 401);
  });

  it('takes the key as JSON only: another site’s form cannot sign a browser in (login CSRF)', async () => {
    const forms = [
      ['application/x-www-form-urlencoded', `key=${ADMIN_KEY}`],
      // A text/plain form can carry a body that looks like JSON; it is not read as JSON.
      ['text/plain', JSON.stringify({ key: ADMIN_KEY })],
      [
        'multipart/form-data; boundary=x',
        `--x\r\nContent-Disposition: form-data; name="key"\r\n\r\n${ADMIN_KEY}\r\n--x--\r\n`,
      ],
    ];
    for (const [type, body] of forms) {
      const res = await request(s.url, '/api/v1/session', {
        key: null,
        method: 'POST',
        headers: { 'content-type': type as string },
        body: body as string,
      });
      assert.ok([415, 422].includes(res.status), `${type}: ${res.status}`);
      assert.equal(res.headers.get('set-cookie'), null);
    }
  });

  it('reads with the cookie alone; a cross-site write without the CSRF token is 403', async () => {
    const session = await signIn(s);
    assert.equal((await browser(s, session, '/api/v1/functions')).status, 200);
    const forged = await browser(s, session, '/api/v1/functions/csrf-a', { method: 'PUT', json: fn });
    assert.equal(forged.status, 403);
    assert.equal(((await forged.json()) as { error: { code: string } }).error.code, 'FAAS_ERR_FORBIDDEN');
    const wrong = await browser(s, session, '/api/v1/functions/csrf-a', {
      method: 'PUT',
      json: fn,
      headers: { 'x-csrf-token': 'not-the-token' },
    });
    assert.equal(wrong.status, 403);
    const made = await browser(s, session, '/api/v1/functions/csrf-a', {
      method: 'PUT',
      json: fn,
      csrf: true,
    });
    assert.equal(made.status, 201, await made.clone().text());
  });

  it('invokes with the cookie and the CSRF token; without the token the invoke is 403', async () => {
    const session = await signIn(s);
    assert.equal((await s.api('/api/v1/functions/csrf-b', { method: 'PUT', json: fn })).status, 201);
    const path = '/api/v1/functions/csrf-b/invoke';
    const forged = await browser(s, session, path, { method: 'POST', json: { n: 1 } });
    assert.equal(forged.status, 403);
    const ok = await browser(s, session, path, { method: 'POST', json: { n: 2 }, csrf: true });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { n: 2 });
  });

  it("follows a function's live log stream and reads its stats with the cookie alone (the console's tail and chart)", async () => {
    const session = await signIn(s);
    assert.equal((await s.api('/api/v1/functions/csrf-tail', { method: 'PUT', json: fn })).status, 201);
    const stream = await browser(s, session, '/api/v1/logs/stream?functionName=csrf-tail');
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
    // Subscribed once the headers are out: an invoke made now is on the stream.
    const invoked = await browser(s, session, '/api/v1/functions/csrf-tail/invoke', {
      method: 'POST',
      json: { n: 7 },
      csrf: true,
    });
    assert.equal(invoked.status, 200);
    await invoked.text();
    const reader = (stream.body as ReadableStream<Uint8Array>)
      .pipeThrough(new TextDecoderStream())
      .getReader();
    let text = '';
    while (!/event: end\n/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    await reader.cancel();
    assert.match(text, /event: start\n/);
    assert.match(text, /event: log\ndata: \{[^\n]*"message":"seen 7"/);
    assert.match(text, /event: end\ndata: \{[^\n]*"status":"succeeded"/);
    const stats = await browser(s, session, '/api/v1/functions/csrf-tail/stats');
    assert.equal(stats.status, 200);
    const { buckets } = (await stats.json()) as { buckets: Array<{ calls: number }> };
    assert.equal(
      buckets.reduce((n, b) => n + b.calls, 0),
      1,
    );
    // Without the cookie, neither.
    const anonymous = await request(s.url, '/api/v1/logs/stream?functionName=csrf-tail', { key: null });
    assert.equal(anonymous.status, 401);
    await anonymous.text();
  });

  it('a signed-out session is 401, and its sign-out needs the CSRF token', async () => {
    const session = await signIn(s);
    const forged = await browser(s, session, '/api/v1/session', { method: 'DELETE' });
    assert.equal(forged.status, 403, 'another site cannot sign you out');
    assert.equal((await browser(s, session, '/api/v1/functions')).status, 200);
    const out = await browser(s, session, '/api/v1/session', { method: 'DELETE', csrf: true });
    assert.equal(out.status, 204);
    assert.match(out.headers.get('set-cookie') ?? '', /^faas_session=; .*Max-Age=0/);
    const after = await browser(s, session, '/api/v1/functions');
    assert.equal(after.status, 401);
    assert.equal((await browser(s, session, '/api/v1/session')).status, 401);
  });

  it('a revoked key ends its sessions', async () => {
    const made = (await (
      await s.api('/api/v1/keys', { method: 'POST', json: { name: 'to-revoke' } })
    ).json()) as {
      id: string;
      key: string;
    };
    const session = await signIn(s, made.key);
    assert.equal((await browser(s, session, '/api/v1/functions')).status, 200);
    assert.equal((await s.api(`/api/v1/keys/${made.id}`, { method: 'DELETE' })).status, 204);
    // Sessions re-check their key every few seconds, as the key cache does.
    let status = 200;
    for (let i = 0; i < 100 && status === 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await browser(s, session, '/api/v1/functions')).status;
    }
    assert.equal(status, 401);
  });

  it("a session ends when its key expires, and acts in its key's project only", async () => {
    assert.equal(
      (await s.api('/api/v1/projects', { method: 'POST', json: { name: 'console-team' } })).status,
      201,
    );
    const expiresAt = new Date(Date.now() + 1_500).toISOString();
    const made = (await (
      await s.api('/api/v1/keys', {
        method: 'POST',
        json: { name: 'short-lived', project: 'console-team', expiresAt },
      })
    ).json()) as { key: string };
    const session = await signIn(s, made.key);
    // The admin's functions are in the default project: this session sees none of them.
    assert.equal(
      (
        await s.api('/api/v1/functions', {
          method: 'POST',
          json: { name: 'not-theirs', runtime: 'js', code: 'export default () => 1' },
        })
      ).status,
      201,
    );
    const listed = (await (await browser(s, session, '/api/v1/functions')).json()) as { items: unknown[] };
    assert.deepEqual(listed.items, []);
    assert.equal((await browser(s, session, '/api/v1/functions/not-theirs')).status, 404);
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(expiresAt) - Date.now()) + 100));
    assert.equal((await browser(s, session, '/api/v1/functions')).status, 401);
  });

  it('a user key signed in is still not an admin', async () => {
    const made = (await (
      await s.api('/api/v1/keys', { method: 'POST', json: { name: 'user-1' } })
    ).json()) as {
      key: string;
    };
    const session = await signIn(s, made.key);
    assert.equal((await browser(s, session, '/api/v1/keys')).status, 403);
  });

  it('the API key path is unchanged: a key beats a cookie, a bad key is 401 even with a good cookie', async () => {
    const session = await signIn(s);
    const res = await request(s.url, '/api/v1/functions', {
      key: 'faas_wrong',
      headers: { cookie: session.cookie },
    });
    assert.equal(res.status, 401);
  });
});

describe('console sessions on several gateway threads', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ gatewayThreads: 3 });
  });
  after(async () => s?.close());

  it('every thread serves a cookie invoke (passed to the thread that holds the sessions)', async () => {
    const session = await signIn(s);
    assert.equal((await s.api('/api/v1/functions/threads-a', { method: 'PUT', json: fn })).status, 201);
    for (let i = 0; i < 12; i++) {
      // A new connection each time, so the kernel spreads them over the threads.
      const res = await browser(s, session, '/api/v1/functions/threads-a/invoke', {
        method: 'POST',
        json: { n: i },
        csrf: true,
        headers: { connection: 'close' },
      });
      assert.equal(res.status, 200, await res.clone().text());
      assert.deepEqual(await res.json(), { n: i });
    }
  });
});

describe('instance stream tickets', { skip: engineSkipReason() }, () => {
  let s: TestServer;
  let instance: string;
  before(async () => {
    // Open streams re-check their caller's key this often: a revoked one ends them within it.
    s = await startTestServer({ routeSyncMs: 200 });
    const res = await s.api('/api/v1/instances', { method: 'POST', json: {} });
    assert.equal(res.status, 201, await res.clone().text());
    instance = ((await res.json()) as { id: string }).id;
  });
  after(async () => {
    if (instance) await s.api(`/api/v1/instances/${instance}`, { method: 'DELETE' });
    await s?.close();
  });

  const ticket = async (session: SignedIn, id = instance) => {
    const res = await browser(s, session, `/api/v1/instances/${id}/stream-ticket`, {
      method: 'POST',
      csrf: true,
    });
    assert.equal(res.status, 201, await res.clone().text());
    return (await res.json()) as { ticket: string; url: string };
  };
  const ws = (path: string) => s.url.replace('http', 'ws') + path;

  it('opens the stream once with a ticket; a reused ticket is refused', async () => {
    const session = await signIn(s);
    const { url } = await ticket(session);
    const socket = new WebSocket(ws(url));
    const first = await new Promise<{ type: string }>((resolve, reject) => {
      socket.addEventListener('message', (m) => resolve(JSON.parse(String(m.data))));
      socket.addEventListener('error', () => reject(new Error('WebSocket failed')));
    });
    assert.equal(first.type, 'state');
    socket.close();
    assert.equal(await upgradeStatus(`${s.url}${url}`, {}), 401, 'used');
  });

  it('refuses a made-up ticket, a ticket without the CSRF token, and a ticket for another instance', async () => {
    const session = await signIn(s);
    assert.equal(await upgradeStatus(`${s.url}/api/v1/instances/${instance}/stream?ticket=made-up`, {}), 401);
    const forged = await browser(s, session, `/api/v1/instances/${instance}/stream-ticket`, {
      method: 'POST',
    });
    assert.equal(forged.status, 403);
    const { ticket: t } = await ticket(session);
    assert.equal(await upgradeStatus(`${s.url}/api/v1/containers/other/stream?ticket=${t}`, {}), 401);
    assert.equal(
      await upgradeStatus(`${s.url}/api/v1/instances/${instance}/stream?ticket=${t}`, {}),
      401,
      'used up',
    );
    const { ticket: fresh } = await ticket(session);
    assert.equal(
      await upgradeStatus(`${s.url}/api/v1/instances/${instance}/events?ticket=${fresh}`, {}),
      401,
      'streams only',
    );
  });

  it('refuses the ticket of a key revoked after it was issued', async () => {
    const made = (await (
      await s.api('/api/v1/keys', { method: 'POST', json: { name: 'ticket-then-revoked' } })
    ).json()) as { id: string; key: string };
    const { url } = await ticket(await signIn(s, made.key));
    assert.equal((await s.api(`/api/v1/keys/${made.id}`, { method: 'DELETE' })).status, 204);
    assert.equal(await upgradeStatus(`${s.url}${url}`, {}), 401);
  });

  it('closes an open stream (1008) once its key is revoked, so a command sent after runs nothing', async () => {
    const made = (await (
      await s.api('/api/v1/keys', { method: 'POST', json: { name: 'stream-then-revoked' } })
    ).json()) as { id: string; key: string };
    const socket = new WebSocket(ws(`/api/v1/instances/${instance}/stream`), {
      headers: { authorization: `Bearer ${made.key}` },
    } as never);
    const types: string[] = [];
    socket.addEventListener('message', (m) =>
      types.push((JSON.parse(String(m.data)) as { type: string }).type),
    );
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      socket.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason })),
    );
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => resolve());
      socket.addEventListener('error', () => reject(new Error('WebSocket failed')));
    });
    assert.equal((await s.api(`/api/v1/keys/${made.id}`, { method: 'DELETE' })).status, 204);
    // docs/api.md: a revoked key ends its sessions within 5 s (this server re-checks every 200 ms).
    const outcome = await Promise.race([
      closed,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 5_000)),
    ]);
    if (!outcome) {
      socket.send(JSON.stringify({ type: 'exec', command: 'id' }));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      socket.close();
      assert.fail(`still open 5 s after its key was revoked; an exec sent then got: ${types.join(', ')}`);
    }
    assert.equal(outcome.code, 1008);
    assert.match(outcome.reason, /revoked|expired|ended/);
    assert.ok(!types.includes('started'), types.join(', '));
  });

  it('refuses a ticket redeemed after its key expired', async () => {
    const expiresAt = new Date(Date.now() + 1_500).toISOString();
    const made = (await (
      await s.api('/api/v1/keys', { method: 'POST', json: { name: 'ticket-then-expired', expiresAt } })
    ).json()) as { key: string };
    const res = await s.api(`/api/v1/instances/${instance}/stream-ticket`, { method: 'POST', key: made.key });
    assert.equal(res.status, 201, await res.clone().text());
    const { url } = (await res.json()) as { url: string };
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(expiresAt) - Date.now()) + 100));
    assert.equal(await upgradeStatus(`${s.url}${url}`, {}), 401);
  });

  it('takes the session cookie from this origin, not from another', async () => {
    const session = await signIn(s);
    const path = `${s.url}/api/v1/instances/${instance}/stream`;
    const host = new URL(s.url).host;
    assert.equal(await upgradeStatus(path, { cookie: session.cookie, origin: `http://${host}` }), 101);
    assert.equal(await upgradeStatus(path, { cookie: session.cookie, origin: 'https://evil.example' }), 403);
    assert.equal(await upgradeStatus(path, {}), 401);
  });
});

describe('console sessions with auth off', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ auth: false });
  });
  after(async () => s?.close());

  it('says auth is off and sets no cookie', async () => {
    const signIn = await request(s.url, '/api/v1/session', {
      key: null,
      method: 'POST',
      json: { key: 'anything' },
    });
    assert.equal(signIn.status, 200);
    assert.deepEqual(await signIn.json(), { auth: false });
    assert.equal(signIn.headers.get('set-cookie'), null);
    const me = await request(s.url, '/api/v1/session', { key: null });
    assert.deepEqual(await me.json(), { auth: false });
  });
});
