import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.ts';

const SANDBOX = 'sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads';

/** A page that tries to take a signed-in admin's console: script, and a session cookie of its own. */
const PAGE = `export default (e) => {
  const cookies = {
    session: 'faas_session=attacker; Path=/api/v1',
    spaced: ' FAAS_Session =attacker; Path=/api/v1',
    nameless: '=faas_session=attacker; Path=/api/v1',
    domain: 'theme=dark; Domain=127.0.0.1; Path=/',
    theme: 'theme=dark; Path=/; HttpOnly',
  };
  const kind = e.params.kind ?? e.query.kind;
  const headers = { 'content-type': 'text/html' };
  if (cookies[kind]) headers['set-cookie'] = cookies[kind];
  if (kind === 'csp') headers['Content-Security-Policy'] = "default-src 'self'";
  return { statusCode: 200, headers, body: '<script>fetch("/api/v1/session")</script>' };
}`;

describe('HTTP triggers', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
    // Public: these tests call the triggers without a key (projects.test.ts covers private ones).
    const deploy = async (body: Record<string, unknown>) => {
      const res = await s.api('/api/v1/functions', {
        method: 'POST',
        json: { runtime: 'js', public: true, ...body },
      });
      assert.equal(res.status, 201, await res.clone().text());
    };
    await deploy({ name: 'mirror', code: 'export default (e) => e' });
    await deploy({
      name: 'users',
      routes: ['GET /users/:id', 'POST /users', 'GET /static/*'],
      code: `export default (e) => ({
        statusCode: e.method === 'POST' ? 201 : 200,
        headers: { 'x-route': e.path },
        body: { id: e.params.id ?? null, rest: e.params['*'] ?? null, q: e.query.q ?? null, got: e.body },
      })`,
    });
    await deploy({
      name: 'shapes',
      routes: ['GET /shape/:kind'],
      code: `export default (e) => ({
        empty: { statusCode: 204, body: 'dropped' },
        bytes: { statusCode: 200, body: 'aGk=', isBase64Encoded: true },
        vendor: { statusCode: 200, headers: { 'Content-Type': 'application/vnd.x+json' }, body: { a: 1 } },
        none: { statusCode: 202 },
      })[e.params.kind]`,
    });
    await deploy({
      name: 'bad-headers',
      routes: ['GET /bad-header/:kind'],
      code: `export default (e) => ({
        statusCode: 200,
        headers: e.params.kind === 'name' ? { 'bad name': 'v' } : { 'x-bad': 'a\\nb' },
        body: 'never sent',
      })`,
    });
    await deploy({
      name: 'teapot',
      routes: ['ANY /teapot'],
      code: 'export default () => ({ statusCode: 418, headers: { "content-type": "text/plain" }, body: "short and stout" })',
    });
    await deploy({ name: 'page', routes: ['GET /page/:kind'], code: PAGE });
    // The request's body is the response.
    await deploy({ name: 'resp', code: 'export default (e) => JSON.parse(e.body ?? "null")' });
    await deploy({
      name: 'framing',
      routes: ['GET /framing'],
      code: `export default () => ({
        statusCode: 200,
        headers: { 'Transfer-Encoding': 'chunked', connection: 'close', 'content-length': '1', 'x-invocation-id': 'forged' },
        body: 'hello',
      })`,
    });
  });
  after(() => s.close());

  it('/fn/{name}/* invokes a public function with the request as the event, without an API key', async () => {
    const res = await s.api('/fn/mirror/a/b?x=1', {
      key: null,
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'x-custom': 'yes' },
      body: 'hi',
    });
    assert.equal(res.status, 200);
    const event = (await res.json()) as Record<string, unknown>;
    assert.equal(event.method, 'POST');
    assert.equal(event.path, '/a/b');
    assert.deepEqual(event.query, { x: '1' });
    assert.equal(event.body, 'hi');
    assert.equal(event.isBase64Encoded, false);
    assert.equal((event.headers as Record<string, string>)['x-custom'], 'yes');
  });

  it('binary bodies arrive base64-encoded', async () => {
    const res = await s.api('/fn/mirror', {
      key: null,
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array([0, 255]),
    });
    const event = (await res.json()) as { body: string; isBase64Encoded: boolean };
    assert.equal(event.isBase64Encoded, true);
    assert.deepEqual([...Buffer.from(event.body, 'base64')], [0, 255]);
  });

  it('declared routes are served at the root with params; { statusCode, headers, body } is the response', async () => {
    const get = await s.api('/users/42?q=term', { key: null });
    assert.equal(get.status, 200);
    assert.equal(get.headers.get('x-route'), '/users/42');
    assert.deepEqual(await get.json(), { id: '42', rest: null, q: 'term', got: null });
    const post = await s.api('/users', { key: null, method: 'POST', json: { n: 1 } });
    assert.equal(post.status, 201);
    assert.deepEqual(((await post.json()) as { got: unknown }).got, '{"n":1}');
    const wild = await s.api('/static/css/site.css', { key: null });
    assert.equal(((await wild.json()) as { rest: string }).rest, 'css/site.css');
    const tea = await s.api('/teapot', { key: null, method: 'DELETE' });
    assert.equal(tea.status, 418);
    assert.equal(await tea.text(), 'short and stout');
  });

  it('a route moves with the function: removed on delete, added on deploy', async () => {
    assert.equal((await s.api('/teapot', { key: null })).status, 418);
    assert.equal((await s.api('/api/v1/functions/teapot', { method: 'DELETE' })).status, 204);
    assert.equal((await s.api('/teapot', { key: null })).status, 404);
    await s.api('/api/v1/functions/mirror', { method: 'PATCH', json: { routes: ['GET /teapot'] } });
    assert.equal((await s.api('/teapot', { key: null })).status, 200);
  });

  it('a header the function returns that HTTP cannot carry is a 502 in the error format', async () => {
    for (const kind of ['value', 'name']) {
      const res = await s.api(`/bad-header/${kind}`, { key: null });
      assert.equal(res.status, 502);
      const body = (await res.json()) as { error: { code: string; details: { invocationId: string } } };
      assert.equal(body.error.code, 'FAAS_ERR_INVALID_FUNCTION_RESPONSE');
      assert.equal(body.error.details.invocationId, res.headers.get('x-invocation-id'));
    }
  });

  /** `/fn/resp` answering `response`; an answer that never ends fails the test, not the file. */
  const answering = (response: unknown) =>
    s.api('/fn/resp', {
      key: null,
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify(response),
      signal: AbortSignal.timeout(5_000),
    });

  it('a response HTTP cannot carry is a 502 naming what: a 1xx status, headers that are not values, base64 that is not', async () => {
    const cases: Array<[unknown, Record<string, string>]> = [
      ...[100, 101, 102, 103, 199].map((statusCode): [unknown, Record<string, string>] => [
        { statusCode },
        { field: 'statusCode' },
      ]),
      [{ statusCode: 200, headers: 'str' }, { field: 'headers' }],
      [{ statusCode: 200, headers: ['x'] }, { field: 'headers' }],
      [{ statusCode: 200, headers: { x: { a: 1 } } }, { header: 'x' }],
      [{ statusCode: 200, headers: { 'set-cookie': ['a=1', { b: 2 }] } }, { header: 'set-cookie' }],
      [{ statusCode: 200, headers: { 'x-list': ['ok', 'a\nb'] } }, { header: 'x-list' }],
      [{ statusCode: 200, isBase64Encoded: true, body: '!!!' }, { field: 'body' }],
      [{ statusCode: 200, isBase64Encoded: true, body: { a: 1 } }, { field: 'body' }],
    ];
    for (const [response, names] of cases) {
      const res = await answering(response);
      const what = JSON.stringify(response);
      assert.equal(res.status, 502, what);
      const body = (await res.json()) as { error: { code: string; details: Record<string, string> } };
      assert.equal(body.error.code, 'FAAS_ERR_INVALID_FUNCTION_RESPONSE', what);
      assert.deepEqual(
        body.error.details,
        { invocationId: res.headers.get('x-invocation-id'), ...names },
        what,
      );
    }
    // Outside 100 to 599 a statusCode is no response shape at all: the result is the JSON answer.
    const plain = await answering({ statusCode: 600 });
    assert.equal(plain.status, 200);
    assert.deepEqual(await plain.json(), { statusCode: 600 });
  });

  it('a list of values is one Set-Cookie per item and one joined field for any other; numbers and booleans are text', async () => {
    const res = await answering({
      statusCode: 200,
      headers: {
        'Set-Cookie': ['a=1; Path=/', 'faas_session=forged', 'b=2'],
        'x-list': ['1', 2],
        'x-number': 5,
        'x-boolean': true,
        'x-none': [],
      },
      body: 'ok',
    });
    assert.equal(res.status, 200);
    // Each cookie is checked on its own: the console's session cookie goes, the others stay.
    assert.deepEqual(res.headers.getSetCookie(), ['a=1; Path=/', 'b=2']);
    assert.equal(res.headers.get('x-list'), '1, 2');
    assert.equal(res.headers.get('x-number'), '5');
    assert.equal(res.headers.get('x-boolean'), 'true');
    assert.equal(res.headers.has('x-none'), false);
    assert.equal(await res.text(), 'ok');
  });

  it('a 204 or 304 carries no body, nor a length for one', async () => {
    for (const statusCode of [204, 304]) {
      const res = await answering({ statusCode, headers: { etag: '"v1"' }, body: 'dropped' });
      assert.equal(res.status, statusCode);
      assert.equal(res.headers.get('etag'), '"v1"');
      assert.equal(res.headers.get('content-length'), null, String(statusCode));
      assert.equal(res.headers.get('content-type'), null, String(statusCode));
      assert.equal(await res.text(), '');
    }
  });

  it("frames the answer itself: a function's framing headers and the platform's own are not the function's", async () => {
    const { port, hostname } = new URL(s.url);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () =>
        socket.write(`GET /framing HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`),
      );
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString('latin1');
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    const [head = '', body] = raw.split('\r\n\r\n');
    const headers = head.toLowerCase().split('\r\n');
    assert.ok(!headers.some((h) => h.startsWith('transfer-encoding')), head);
    assert.ok(headers.includes('content-length: 5'), head);
    assert.equal(body, 'hello');
    assert.ok(
      headers.some((h) => /^x-invocation-id: inv_/.test(h)),
      head,
    );
  });

  it('shapes responses as the router does: no body on 204, octets for base64, a charset for JSON types', async () => {
    const empty = await s.api('/shape/empty', { key: null });
    assert.equal(empty.status, 204);
    assert.equal(empty.headers.get('content-type'), null);
    assert.equal(await empty.text(), '');
    const bytes = await s.api('/shape/bytes', { key: null });
    assert.equal(bytes.headers.get('content-type'), 'application/octet-stream');
    assert.equal(await bytes.text(), 'hi');
    const vendor = await s.api('/shape/vendor', { key: null });
    assert.equal(vendor.headers.get('content-type'), 'application/vnd.x+json; charset=utf-8');
    assert.deepEqual(await vendor.json(), { a: 1 });
    const none = await s.api('/shape/none', { key: null });
    assert.equal(none.status, 202);
    assert.equal(none.headers.get('content-length'), '0');
    const encoded = await s.api('/fn/mirror/a%20b', { key: null });
    assert.equal(((await encoded.json()) as { path: string }).path, '/a b', 'decoded as the router decodes');
    const head = await s.api('/fn/mirror', { key: null, method: 'HEAD' });
    assert.equal(head.status, 200);
  });

  it('an unknown method on a declared path is a 404', async () => {
    assert.equal((await s.api('/users/1', { key: null, method: 'DELETE' })).status, 404);
  });

  it("a function's page runs sandboxed (an opaque origin) and cannot set the console's session cookie", async () => {
    for (const url of ['/page/session', '/fn/page?kind=session']) {
      const res = await s.api(url, { key: null });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/html');
      assert.equal(res.headers.get('content-security-policy'), SANDBOX, url);
      assert.equal(res.headers.get('set-cookie'), null, url);
    }
    // Every spelling the browser would store or send as the session cookie, and any Domain.
    for (const kind of ['spaced', 'nameless', 'domain']) {
      const res = await s.api(`/page/${kind}`, { key: null });
      assert.equal(res.headers.get('set-cookie'), null, kind);
    }
    const own = await s.api('/page/theme', { key: null });
    assert.equal(own.headers.get('set-cookie'), 'theme=dark; Path=/; HttpOnly');
    // The function's own policy is kept beside the sandbox: browsers enforce both.
    const csp = await s.api('/page/csp', { key: null });
    assert.equal(csp.headers.get('content-security-policy'), `${SANDBOX}, default-src 'self'`);
    // A result that is not { statusCode, … } is answered as JSON, sandboxed too.
    const plain = await s.api('/fn/mirror', { key: null });
    assert.equal(plain.headers.get('content-security-policy'), SANDBOX);
  });
});

describe('HTTP triggers with FAAS_TRIGGER_SANDBOX=false (the console on a host of its own)', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ triggerSandbox: false });
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { runtime: 'js', public: true, name: 'page', routes: ['GET /page/:kind'], code: PAGE },
    });
    assert.equal(res.status, 201, await res.clone().text());
  });
  after(() => s.close());

  it('answers without the sandbox policy; the session cookie is still dropped', async () => {
    const res = await s.api('/page/session', { key: null });
    assert.equal(res.headers.get('content-security-policy'), null);
    assert.equal(res.headers.get('set-cookie'), null);
    const csp = await s.api('/page/csp', { key: null });
    assert.equal(csp.headers.get('content-security-policy'), "default-src 'self'");
  });
});
