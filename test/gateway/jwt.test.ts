import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { startTestServer, type TestServer } from '../support/server.ts';

const SECRET = 'a-shared-secret-of-at-least-32-characters!';
const secretKey = new TextEncoder().encode(SECRET);
const ISSUER = 'https://idp.example';
const AUDIENCE = 'faas';

type Claims = Record<string, unknown>;
type SigningKey = Parameters<SignJWT['sign']>[0];

function hs256(claims: Claims, edit: (jwt: SignJWT) => SignJWT = (j) => j, key: Uint8Array = secretKey) {
  return edit(
    new SignJWT({ project: 'default', role: 'developer', ...claims })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice@example.com')
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('5m'),
  ).sign(key);
}

/** Issue 19's tokens: JWTs from an identity provider act as keys of their project and role. */
describe('JWTs (HS256, a shared secret)', () => {
  let s: TestServer;
  const call = (token: string, path: string, init: RequestInit & { json?: unknown } = {}) =>
    s.api(path, { ...init, key: token });
  const refusal = async (res: Response) => {
    assert.equal(res.status, 401, await res.clone().text());
    return ((await res.json()) as { error: { code: string; message: string } }).error;
  };

  before(async () => {
    s = await startTestServer({
      jwtSecret: SECRET,
      jwtIssuer: ISSUER,
      jwtAudience: AUDIENCE,
      gatewayThreads: 2,
    });
    assert.equal((await s.api('/api/v1/projects', { method: 'POST', json: { name: 'team-b' } })).status, 201);
  });
  after(() => s.close());

  it("acts as a key of its claims' project and role, on the API and on invokes", async () => {
    const token = await hs256({});
    const made = await call(token, '/api/v1/functions', {
      method: 'POST',
      json: { name: 'by-token', runtime: 'js', code: 'export default () => "hi"' },
    });
    assert.equal(made.status, 201, await made.clone().text());
    const invoked = await call(token, '/api/v1/functions/by-token/invoke', { method: 'POST', json: {} });
    assert.equal(invoked.status, 200);
    assert.equal(await invoked.json(), 'hi');
    assert.equal((await call(token, '/fn/by-token')).status, 200);
    // A viewer may read, not write.
    const viewer = await hs256({ role: 'viewer' });
    assert.equal((await call(viewer, '/api/v1/functions/by-token')).status, 200);
    assert.equal((await call(viewer, '/api/v1/functions/by-token', { method: 'DELETE' })).status, 403);
    // Another project's token finds nothing of this one.
    const teamB = await hs256({ project: 'team-b', role: 'owner' });
    assert.equal((await call(teamB, '/api/v1/functions/by-token')).status, 404);
    assert.equal((await call(teamB, '/api/v1/functions')).status, 200);
    // API keys still work beside tokens.
    assert.equal((await s.api('/api/v1/functions/by-token')).status, 200);
  });

  it('makes no console session or stream ticket of a token: each would end at its first use', async () => {
    const token = await hs256({ role: 'owner' });
    const signIn = await s.api('/api/v1/session', { method: 'POST', json: { key: token }, key: null });
    assert.equal(signIn.status, 400, await signIn.clone().text());
    assert.match(
      ((await signIn.json()) as { error: { message: string } }).error.message,
      /API key, not a token/,
    );
    assert.equal(signIn.headers.get('set-cookie'), null);
    const ticket = await call(token, '/api/v1/instances/ins_none/stream-ticket', { method: 'POST' });
    assert.equal(ticket.status, 400, await ticket.clone().text());
  });

  it('refuses each bad token with its own 401', async () => {
    const expired = await hs256({}, (j) =>
      j.setIssuedAt(Math.floor(Date.now() / 1000) - 3600).setExpirationTime('-30m'),
    );
    assert.equal((await refusal(await call(expired, '/api/v1/functions'))).code, 'FAAS_ERR_TOKEN_EXPIRED');
    const early = await hs256({}, (j) => j.setNotBefore('10m'));
    assert.equal(
      (await refusal(await call(early, '/api/v1/functions'))).code,
      'FAAS_ERR_TOKEN_NOT_YET_VALID',
    );
    const cases: Array<[string, Promise<string> | string, RegExp]> = [
      ['wrong audience', hs256({}, (j) => j.setAudience('other')), /"aud"/],
      ['wrong issuer', hs256({}, (j) => j.setIssuer('https://evil.example')), /"iss"/],
      [
        'wrong signature',
        hs256({}, (j) => j, new TextEncoder().encode('another-secret-of-at-least-32-characters')),
        /signature/,
      ],
      ['no role', hs256({ role: undefined }), /"role" claim/],
      ['an unknown role', hs256({ role: 'root' }), /"role" claim/],
      ['no project', hs256({ project: undefined }), /"project" claim/],
      [
        'alg none',
        `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(
          JSON.stringify({
            project: 'default',
            role: 'admin',
            iss: ISSUER,
            aud: AUDIENCE,
            exp: 9_999_999_999,
          }),
        ).toString('base64url')}.`,
        /algorithm/,
      ],
      ['garbage', 'eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln', /not a valid JWT|signature/],
    ];
    for (const [what, token, message] of cases) {
      const error = await refusal(await call(await token, '/api/v1/functions'));
      assert.equal(error.code, 'FAAS_ERR_TOKEN_INVALID', what);
      assert.match(error.message, message, what);
    }
    // On an invoke too, through the pipeline's own check.
    const invoked = await call(expired, '/api/v1/functions/by-token/invoke', { method: 'POST', json: {} });
    assert.equal((await refusal(invoked)).code, 'FAAS_ERR_TOKEN_EXPIRED');
  });
});

describe('JWTs with FAAS_JWT_RATE_LIMIT_*: a bucket per subject', () => {
  let s: TestServer;
  before(async () => {
    // Refills one token every 10 s: a burst sent together sees no refill.
    s = await startTestServer({
      jwtSecret: SECRET,
      jwtIssuer: ISSUER,
      jwtAudience: AUDIENCE,
      jwtRateLimitRps: 0.1,
      jwtRateLimitBurst: 2,
      gatewayThreads: 2,
    });
    const made = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'metered', runtime: 'js', code: 'export default () => 1' },
    });
    assert.equal(made.status, 201);
  });
  after(() => s.close());

  // Each call on a connection of its own: the kernel spreads them over the gateway threads.
  const invoke = (token: string) =>
    fetch(`${s.url}/api/v1/functions/metered/invoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, connection: 'close' },
    }).then(async (res) => ({
      status: res.status,
      limit: res.headers.get('ratelimit-limit'),
      body: (await res.json()) as { error?: { code: string; details?: { limit?: string } } },
    }));

  it("every token of one subject draws on one bucket; another subject's is its own; API keys are not held", async () => {
    // Two different tokens of alice (another role, issued a second apart), one bucket.
    const alice = [
      await hs256({}),
      await hs256({ role: 'invoker' }, (j) => j.setIssuedAt(Math.floor(Date.now() / 1000) - 1)),
    ];
    const answers = await Promise.all([0, 1, 2, 3].map((i) => invoke(alice[i % 2] as string)));
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 429, 429], JSON.stringify(answers));
    for (const refused of answers.filter((a) => a.status === 429)) {
      assert.equal(refused.body.error?.code, 'FAAS_ERR_RATE_LIMITED');
      assert.equal(refused.body.error?.details?.limit, 'key');
    }
    assert.equal(answers.find((a) => a.status === 200)?.limit, '2');
    // Bob has a bucket of his own.
    const bob = await hs256({}, (j) => j.setSubject('bob@example.com'));
    assert.deepEqual(
      (await Promise.all([invoke(bob), invoke(bob)])).map((a) => a.status),
      [200, 200],
    );
    // API keys are not tokens: the admin's key calls freely.
    for (let i = 0; i < 3; i++)
      assert.equal(
        (await s.api('/api/v1/functions/metered/invoke', { method: 'POST', json: {} })).status,
        200,
      );
  });

  it("an owner's token makes keys that expire with it and are limited as it is", async () => {
    const token = await hs256({ role: 'owner' }, (j) => j.setSubject('carol@example.com'));
    const exp = Date.now() + 5 * 60_000;
    const make = (json: Record<string, unknown>) =>
      s.api('/api/v1/keys', { method: 'POST', key: token, json: { name: 'by-token', ...json } });
    const limit = { requestsPerSecond: 0.1, burst: 2 };
    for (const json of [{}, { rateLimit: limit }, { expiresAt: new Date(exp - 60_000).toISOString() }]) {
      const res = await make(json);
      assert.equal(res.status, 403, `${JSON.stringify(json)}: ${await res.clone().text()}`);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'FAAS_ERR_FORBIDDEN');
    }
    const within = await make({ rateLimit: limit, expiresAt: new Date(exp - 60_000).toISOString() });
    assert.equal(within.status, 201, await within.clone().text());
  });
});

describe('JWTs (RS256 from a JWKS, ES256 from a public key)', () => {
  let jwks: Server;
  let jwksUrl: string;
  let rsa: Awaited<ReturnType<typeof generateKeyPair>>;
  let ec: Awaited<ReturnType<typeof generateKeyPair>>;
  const servers: TestServer[] = [];

  before(async () => {
    rsa = await generateKeyPair('RS256');
    ec = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(rsa.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    jwks = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(jwks.address() as { port: number }).port}/jwks.json`;
  });
  after(async () => {
    for (const s of servers) await s.close();
    await new Promise((resolve) => jwks.close(resolve));
  });

  const signed = (alg: 'RS256' | 'ES256', key: SigningKey, kid?: string) =>
    new SignJWT({ project: 'default', role: 'viewer' })
      .setProtectedHeader({ alg, ...(kid ? { kid } : {}) })
      .setSubject('bob')
      .setExpirationTime('5m')
      .sign(key);

  it('verifies RS256 tokens against the JWKS; a token from another key is refused', async () => {
    const s = await startTestServer({ jwtJwksUrl: jwksUrl });
    servers.push(s);
    const good = await signed('RS256', rsa.privateKey, 'k1');
    assert.equal((await s.api('/api/v1/functions', { key: good })).status, 200);
    const other = await generateKeyPair('RS256');
    const forged = await signed('RS256', other.privateKey, 'k1');
    const res = await s.api('/api/v1/functions', { key: forged });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'FAAS_ERR_TOKEN_INVALID');
    // HS256 is not accepted when no secret is configured (no key confusion).
    const hs = await hs256({});
    assert.equal((await s.api('/api/v1/functions', { key: hs })).status, 401);
  });

  it('answers 503 while the JWKS cannot be fetched, and does not count it as a failed authentication', async () => {
    // A port nothing listens on: the provider is down.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const s = await startTestServer({
      jwtJwksUrl: `http://127.0.0.1:${port}/jwks.json`,
      authFailureLimit: 1,
    });
    servers.push(s);
    const token = await signed('RS256', rsa.privateKey, 'k1');
    for (let i = 0; i < 3; i++) {
      const res = await s.api('/api/v1/functions', { key: token });
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(res.status, 503, JSON.stringify(body));
      assert.equal(body.error.code, 'FAAS_ERR_AUTH_UNAVAILABLE');
    }
  });

  it('verifies ES256 tokens against FAAS_JWT_PUBLIC_KEY', async () => {
    const s = await startTestServer({
      jwtPublicKey: await exportSPKI(ec.publicKey as Parameters<typeof exportSPKI>[0]),
    });
    servers.push(s);
    assert.equal(
      (await s.api('/api/v1/functions', { key: await signed('ES256', ec.privateKey) })).status,
      200,
    );
    assert.equal(
      (await s.api('/api/v1/functions', { key: await signed('RS256', rsa.privateKey) })).status,
      401,
    );
  });
});
