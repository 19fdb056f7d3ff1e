import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import type { AuditEntry } from '@faas/core';
import { wabtMissing, watModule } from '@faas/testkit';
import { startTestServer, type TestServer, waitFor } from '../support/server.ts';

type Json = Record<string, unknown> & { error?: { code: string; message: string; details: unknown } };

/** Issue 19's secrets: per project, encrypted at rest, seen by the functions that name them. */
describe('secrets', () => {
  let s: TestServer;
  const keys: Record<string, string> = {};

  const call = async (key: string, method: string, path: string, json?: unknown) => {
    const res = await s.api(path, { method, key, ...(json !== undefined ? { json } : {}) });
    const text = await res.text();
    let body: Json = {};
    try {
      body = JSON.parse(text) as Json;
    } catch {}
    return { status: res.status, body, text };
  };

  before(async () => {
    s = await startTestServer({ gatewayThreads: 2 });
    for (const name of ['team-a', 'team-b']) {
      assert.equal((await s.api('/api/v1/projects', { method: 'POST', json: { name } })).status, 201);
    }
    for (const [project, role] of [
      ['team-a', 'developer'],
      ['team-a', 'viewer'],
      ['team-a', 'owner'],
      ['team-b', 'owner'],
    ] as const) {
      const res = await s.api('/api/v1/keys', { method: 'POST', json: { name: role, project, role } });
      assert.equal(res.status, 201);
      keys[`${project}/${role}`] = ((await res.json()) as { key: string }).key;
    }
  });
  after(() => s.close());

  it('sets, lists (names and times only) and deletes secrets per project, audited without values', async () => {
    const dev = keys['team-a/developer'] as string;
    const made = await call(dev, 'PUT', '/api/v1/secrets/DB_PASSWORD', { value: 'hunter2-first' });
    assert.equal(made.status, 201, made.text);
    assert.equal(made.body.name, 'DB_PASSWORD');
    assert.ok(!made.text.includes('hunter2'));
    const replaced = await call(dev, 'PUT', '/api/v1/secrets/DB_PASSWORD', { value: 'hunter2-second' });
    assert.equal(replaced.status, 200, replaced.text);
    assert.equal(replaced.body.createdAt, made.body.createdAt);
    assert.equal((await call(dev, 'PUT', '/api/v1/secrets/API_TOKEN', { value: 'tok-a' })).status, 201);

    const listed = await call(keys['team-a/viewer'] as string, 'GET', '/api/v1/secrets');
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(
      (listed.body.items as Array<Record<string, unknown>>).map((i) => Object.keys(i).sort()),
      [
        ['createdAt', 'name', 'updatedAt'],
        ['createdAt', 'name', 'updatedAt'],
      ],
    );
    assert.deepEqual(
      (listed.body.items as Array<{ name: string }>).map((i) => i.name),
      ['API_TOKEN', 'DB_PASSWORD'],
    );
    assert.ok(!listed.text.includes('hunter2') && !listed.text.includes('tok-a'));

    // Another project: its own list is empty, and team-a's secret is not found there.
    const other = keys['team-b/owner'] as string;
    assert.deepEqual((await call(other, 'GET', '/api/v1/secrets')).body.items, []);
    const elsewhere = await call(other, 'DELETE', '/api/v1/secrets/DB_PASSWORD');
    assert.equal(elsewhere.status, 404);
    assert.equal(elsewhere.body.error?.code, 'FAAS_ERR_SECRET_NOT_FOUND');
    assert.equal((await call(other, 'PUT', '/api/v1/secrets/DB_PASSWORD', { value: 'b-own' })).status, 201);

    assert.equal((await call(dev, 'DELETE', '/api/v1/secrets/API_TOKEN')).status, 204);
    assert.equal((await call(dev, 'DELETE', '/api/v1/secrets/API_TOKEN')).status, 404);
    assert.deepEqual(
      ((await call(dev, 'GET', '/api/v1/secrets')).body.items as Array<{ name: string }>).map((i) => i.name),
      ['DB_PASSWORD'],
    );

    // The secrets' entries: team-a's trail also has its making and its keys (by the admin).
    const audit = await waitFor(async () => {
      const page = await call(keys['team-a/owner'] as string, 'GET', '/api/v1/audit');
      const items = (page.body.items as AuditEntry[]).filter((e) => e.target?.startsWith('secrets/'));
      return items.length >= 4 ? { items, text: page.text } : undefined;
    });
    assert.deepEqual(audit.items.map((e) => `${e.action} ${e.target}`).reverse(), [
      'PUT /api/v1/secrets/:name secrets/DB_PASSWORD',
      'PUT /api/v1/secrets/:name secrets/DB_PASSWORD',
      'PUT /api/v1/secrets/:name secrets/API_TOKEN',
      'DELETE /api/v1/secrets/:name secrets/API_TOKEN',
    ]);
    assert.ok(!audit.text.includes('hunter2') && !audit.text.includes('tok-a'));
  });

  it('refuses bad names and values with a code, never echoing the value', async () => {
    const dev = keys['team-a/developer'] as string;
    for (const name of ['1ABC', 'A-B', 'x'.repeat(129), 'A%20B']) {
      const got = await call(dev, 'PUT', `/api/v1/secrets/${name}`, { value: 'v' });
      assert.equal(got.status, 422, `${name}: ${got.text}`);
      assert.equal(got.body.error?.code, 'FAAS_ERR_VALIDATION');
    }
    const tooBig = 'S'.repeat(64 * 1024 + 1);
    const big = await call(dev, 'PUT', '/api/v1/secrets/BIG', { value: tooBig });
    assert.equal(big.status, 422, big.text.slice(0, 200));
    assert.ok(!big.text.includes('SSSSSSSS'));
    // A value is seen as env, which ends at a NUL: a node container function saw "x" of "x\0y".
    const nul = await call(dev, 'PUT', '/api/v1/secrets/WITH_NUL', { value: 'leaky\u0000value' });
    assert.equal(nul.status, 422, nul.text);
    assert.deepEqual(nul.body.error?.details, [{ field: 'value', message: 'must not hold a NUL byte' }]);
    assert.ok(!nul.text.includes('leaky'), nul.text);
    for (const body of [{}, { value: '' }, { value: { nested: 'leaky-value' } }, { value: 'x', extra: 1 }]) {
      const got = await call(dev, 'PUT', '/api/v1/secrets/OK_NAME', body);
      assert.equal(got.status, 422, got.text);
      assert.ok(!got.text.includes('leaky-value'), got.text);
    }
    const res = await s.api('/api/v1/secrets/OK_NAME', {
      method: 'PUT',
      key: dev,
      headers: { 'content-type': 'application/json' },
      body: '{"value": "unterminated',
    });
    assert.equal(res.status, 400);
    assert.equal((await call(dev, 'GET', '/api/v1/secrets')).text.includes('OK_NAME'), false);
  });

  it('keeps values encrypted in the database, under a key file made with mode 0600', async () => {
    const dev = keys['team-a/developer'] as string;
    const value = `plain-${Math.random().toString(36).slice(2)}-value`;
    assert.equal((await call(dev, 'PUT', '/api/v1/secrets/AT_REST', { value })).status, 201);
    const keyFile = join(s.dataDir, 'secret.key');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.equal(Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64').length, 32);
    const db = new DatabaseSync(join(s.dataDir, 'faas.db'), { readOnly: true });
    try {
      const row = db.prepare("SELECT * FROM secrets WHERE project = 'team-a' AND name = 'AT_REST'").get() as {
        ciphertext: string;
        key_id: string;
      };
      assert.ok(row.ciphertext.length > 0 && !row.ciphertext.includes(value));
      assert.ok(!Buffer.from(row.ciphertext, 'base64').includes(Buffer.from(value)));
      assert.match(row.key_id, /^[0-9a-f]{16}$/);
    } finally {
      db.close();
    }
  });

  it('deploying a function naming a secret the project lacks is 422 FAAS_ERR_SECRET_MISSING naming it', async () => {
    const dev = keys['team-a/developer'] as string;
    const got = await call(dev, 'POST', '/api/v1/functions', {
      name: 'needs-missing',
      runtime: 'js',
      secrets: ['DB_PASSWORD', 'NOT_SET_HERE'],
      code: 'export default () => 1',
    });
    assert.equal(got.status, 422, got.text);
    assert.equal(got.body.error?.code, 'FAAS_ERR_SECRET_MISSING');
    assert.deepEqual(got.body.error?.details, { names: ['NOT_SET_HERE'] });
    assert.equal((await call(dev, 'GET', '/api/v1/functions/needs-missing')).status, 404);
    // Another project's secret of that name does not count.
    const b = await call(keys['team-b/owner'] as string, 'POST', '/api/v1/functions', {
      name: 'b-wants-a',
      runtime: 'js',
      secrets: ['AT_REST'],
      code: 'export default () => 1',
    });
    assert.equal(b.status, 422, b.text);
    const bad = await call(dev, 'POST', '/api/v1/functions', {
      name: 'bad-secret-name',
      runtime: 'js',
      secrets: ['not a name'],
      code: 'export default () => 1',
    });
    assert.equal(bad.status, 422, bad.text);
    assert.equal(bad.body.error?.code, 'FAAS_ERR_VALIDATION');
    // A new version (PATCH) is held to the same rule, and none is made.
    assert.equal(
      (
        await call(dev, 'POST', '/api/v1/functions', {
          name: 'patched',
          runtime: 'js',
          code: 'export default () => 1',
        })
      ).status,
      201,
    );
    const patched = await call(dev, 'PATCH', '/api/v1/functions/patched', { secrets: ['NOT_SET_HERE'] });
    assert.equal(patched.status, 422, patched.text);
    assert.equal(patched.body.error?.code, 'FAAS_ERR_SECRET_MISSING');
    assert.equal((await call(dev, 'GET', '/api/v1/functions/patched')).body.latestVersion, 1);
  });

  it('refuses secrets whose values take the env past 256 KiB: at deploy 422, at a call after a value grew 422 recorded', async () => {
    const dev = keys['team-a/developer'] as string;
    const value = (c: string) => c.repeat(60 * 1024);
    for (const name of ['BIG_1', 'BIG_2', 'BIG_3', 'BIG_4']) {
      assert.equal((await call(dev, 'PUT', `/api/v1/secrets/${name}`, { value: value('a') })).status, 201);
    }
    const fits = await call(dev, 'POST', '/api/v1/functions', {
      name: 'big-env',
      runtime: 'js',
      secrets: ['BIG_1', 'BIG_2', 'BIG_3', 'BIG_4'],
      code: 'export default () => Object.keys(process.env).length',
    });
    assert.equal(fits.status, 201, fits.text);
    assert.equal((await call(dev, 'POST', '/api/v1/functions/big-env/invoke', {})).status, 200);

    assert.equal((await call(dev, 'PUT', '/api/v1/secrets/BIG_5', { value: value('b') })).status, 201);
    const refused = await call(dev, 'PATCH', '/api/v1/functions/big-env', {
      secrets: ['BIG_1', 'BIG_2', 'BIG_3', 'BIG_4', 'BIG_5'],
    });
    assert.equal(refused.status, 422, refused.text);
    assert.equal(refused.body.error?.code, 'FAAS_ERR_VALIDATION');
    assert.match(refused.body.error?.message ?? '', /secrets with their values the env is \d+ bytes/);
    assert.ok(!refused.text.includes('aaaa') && !refused.text.includes('bbbb'), 'no value is shown');
    assert.equal((await call(dev, 'GET', '/api/v1/functions/big-env')).body.latestVersion, 1);

    // A value grown since the deploy: the call is refused, with the same reason, and recorded.
    assert.equal(
      (await call(dev, 'PUT', '/api/v1/secrets/BIG_4', { value: 'c'.repeat(64 * 1024 + 1) })).status,
      422,
      'one value is at most 64 KiB',
    );
    for (const name of ['BIG_1', 'BIG_2', 'BIG_3', 'BIG_4']) {
      const grew = await call(dev, 'PUT', `/api/v1/secrets/${name}`, { value: 'c'.repeat(64 * 1024) });
      assert.equal(grew.status, 200, grew.text);
    }
    const grown = await call(dev, 'POST', '/api/v1/functions/big-env/invoke', {});
    assert.equal(grown.status, 422, grown.text);
    assert.match(grown.body.error?.message ?? '', /at most 262144 \(256 KiB\) in all/);
    const listed = await call(dev, 'GET', '/api/v1/invocations?functionName=big-env&limit=5');
    const items = listed.body.items as { status: string }[];
    assert.equal(items.length, 2, listed.text);
    assert.notEqual(items[0]?.status, 'succeeded', listed.text);
  });

  it('a js function sees its secrets in process.env and context.env; a new value reaches the next call', async () => {
    const dev = keys['team-a/developer'] as string;
    assert.equal(
      (await call(dev, 'PUT', '/api/v1/secrets/GREETING', { value: 'first-greeting' })).status,
      201,
    );
    const made = await call(dev, 'POST', '/api/v1/functions', {
      name: 'uses-secret',
      runtime: 'js',
      env: { PLAIN: 'plain', GREETING: 'overridden-by-the-secret' },
      secrets: ['GREETING'],
      // Reversed, so the answer does not hold the value itself (which would be hidden).
      code: `export default (event, context) => ({
        env: [...process.env.GREETING].reverse().join(''),
        context: [...context.env.GREETING].reverse().join(''),
        plain: process.env.PLAIN,
      })`,
    });
    assert.equal(made.status, 201, made.text);
    assert.ok(!made.text.includes('first-greeting'));
    assert.deepEqual((made.body.latest as { secrets: string[] }).secrets, ['GREETING']);
    const reverse = (v: string) => [...v].reverse().join('');
    for (const path of ['/api/v1/functions/uses-secret/invoke', '/api/v1/functions/uses-secret/invoke']) {
      const got = await call(dev, 'POST', path, {});
      assert.deepEqual(got.body, {
        env: reverse('first-greeting'),
        context: reverse('first-greeting'),
        plain: 'plain',
      });
    }
    assert.equal(
      (await call(dev, 'PUT', '/api/v1/secrets/GREETING', { value: 'second-greeting' })).status,
      200,
    );
    const after = await call(dev, 'POST', '/api/v1/functions/uses-secret/invoke', {});
    assert.equal(after.body.env, reverse('second-greeting'), after.text);

    // Deleted: the function cannot run without it, and says which.
    assert.equal((await call(dev, 'DELETE', '/api/v1/secrets/GREETING')).status, 204);
    const gone = await call(dev, 'POST', '/api/v1/functions/uses-secret/invoke', {});
    assert.equal(gone.status, 422, gone.text);
    assert.equal(gone.body.error?.code, 'FAAS_ERR_SECRET_MISSING');
  });

  it('a wasm function sees its secrets in its WASI environment (its output then shows [secret])', {
    skip: wabtMissing(),
  }, async () => {
    const dev = keys['team-a/developer'] as string;
    assert.equal(
      (await call(dev, 'PUT', '/api/v1/secrets/WASM_TOKEN', { value: 'wasm-token-value' })).status,
      201,
    );
    const made = await call(dev, 'POST', '/api/v1/functions', {
      name: 'wasm-env',
      runtime: 'wasm',
      env: { PLAIN: 'p' },
      secrets: ['WASM_TOKEN'],
      code: { wasm: Buffer.from(watModule('environment')).toString('base64') },
    });
    assert.equal(made.status, 201, made.text);
    const got = await call(dev, 'POST', '/api/v1/functions/wasm-env/invoke', {});
    assert.equal(got.status, 200, got.text);
    // The module prints its environment: the name is there with the value, which the answer hides.
    assert.match(got.text, /WASM_TOKEN=\[secret\]/);
    assert.match(got.text, /PLAIN=p/);
    assert.ok(!got.text.includes('wasm-token-value'));
  });
});
