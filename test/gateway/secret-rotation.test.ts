import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, postgresSkipReason, postgresTestUrl } from '@faas/testkit';
import { startTestServer, type TestServer, tempDataDir } from '../support/server.ts';

const FAAS = new URL('../../bin/faas', import.meta.url).pathname;

const reverse = (v: string) => [...v].reverse().join('');

function keyIdsInDb(dataDir: string): string[] {
  const db = new DatabaseSync(join(dataDir, 'faas.db'), { readOnly: true });
  try {
    return (db.prepare('SELECT key_id FROM secrets ORDER BY name').all() as Array<{ key_id: string }>).map(
      (r) => r.key_id,
    );
  } finally {
    db.close();
  }
}

/**
 * docs/security.md's rotation, step by step on one data dir: the key file of a first start, then
 * FAAS_SECRET_KEY with the old key as FAAS_SECRET_KEY_PREVIOUS (the start re-encrypts), then the
 * new key alone; a server given a key that wrote nothing answers 503 FAAS_ERR_SECRET_UNREADABLE.
 */
describe('rotating the secret key', () => {
  const dataDir = tempDataDir();
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  const invoke = async (s: TestServer) => {
    const res = await s.api('/api/v1/functions/rot/invoke', { method: 'POST', json: {} });
    return { status: res.status, body: (await res.json()) as unknown };
  };

  it('re-encrypts at start under the new key, after which the old one is not needed', async () => {
    let s = await startTestServer({}, dataDir);
    assert.equal(
      (await s.api('/api/v1/secrets/ROTATED', { method: 'PUT', json: { value: 'rotate-me-value' } })).status,
      201,
    );
    assert.equal(
      (
        await s.api('/api/v1/functions', {
          method: 'POST',
          json: {
            name: 'rot',
            runtime: 'js',
            secrets: ['ROTATED'],
            code: 'export default () => [...process.env.ROTATED].reverse().join("")',
          },
        })
      ).status,
      201,
    );
    assert.equal((await invoke(s)).body, reverse('rotate-me-value'));
    await s.server.close();
    const oldKey = readFileSync(join(dataDir, 'secret.key'), 'utf8').trim();
    const [before] = keyIdsInDb(dataDir);

    const newKey = Buffer.alloc(32, 9).toString('hex');
    s = await startTestServer({ secretKey: newKey, secretKeyPrevious: oldKey }, dataDir);
    const [during] = keyIdsInDb(dataDir);
    assert.notEqual(during, before, 'the start re-encrypted the secret');
    assert.equal((await invoke(s)).body, reverse('rotate-me-value'));
    await s.server.close();

    s = await startTestServer({ secretKey: newKey }, dataDir);
    assert.equal((await invoke(s)).body, reverse('rotate-me-value'));
    await s.server.close();

    s = await startTestServer({ secretKey: Buffer.alloc(32, 3).toString('base64') }, dataDir);
    const unreadable = await invoke(s);
    assert.equal(unreadable.status, 503);
    assert.equal((unreadable.body as { error: { code: string } }).error.code, 'FAAS_ERR_SECRET_UNREADABLE');
    assert.ok(!JSON.stringify(unreadable.body).includes('rotate-me-value'));
    // Set again under this key, it works: a lost key costs the values, not the server.
    assert.equal(
      (await s.api('/api/v1/secrets/ROTATED', { method: 'PUT', json: { value: 'rotate-me-value' } })).status,
      200,
    );
    assert.equal((await invoke(s)).body, reverse('rotate-me-value'));
    await s.server.close();
  });
});

/** `faas` with these settings added to (or, undefined, removed from) the environment. */
function faas(args: string[], env: Record<string, string | undefined>) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(FAAS, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * Servers sharing one PostgreSQL store must share FAAS_SECRET_KEY: the store keeps the id of the
 * key its secrets are under, and a server with another key does not start. docs/security.md's
 * rolling rotation: servers restarted with the new key (the old one as previous) keep writing
 * with the old key, so those not restarted yet keep reading every secret; `faas secrets rotate`
 * then moves the store, after which one left on the old key refuses secret writes rather than
 * write what the others cannot read.
 */
describe('servers sharing PostgreSQL with different secret keys', { skip: postgresSkipReason() }, () => {
  const keyA = Buffer.alloc(32, 1).toString('hex');
  const keyB = Buffer.alloc(32, 2).toString('hex');
  let db: { url: string; drop(): Promise<void> };
  const servers: TestServer[] = [];
  before(async () => {
    db = await createTestDatabase(postgresTestUrl() as string);
  });
  after(async () => {
    for (const s of servers) await s.close();
    await db?.drop();
  });

  // Each server has blobs of its own here: a function is deployed where it runs.
  const deploy = async (s: TestServer, name: string) => {
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: {
        name,
        runtime: 'js',
        secrets: ['SHARED'],
        code: 'export default () => [...process.env.SHARED].reverse().join("")',
      },
    });
    assert.equal(res.status, 201, await res.text());
  };
  const invoke = async (s: TestServer, name: string) => {
    const res = await s.api(`/api/v1/functions/${name}/invoke`, { method: 'POST', json: {} });
    return { status: res.status, body: (await res.json()) as unknown };
  };
  const put = (s: TestServer, value: string) =>
    s.api('/api/v1/secrets/SHARED', { method: 'PUT', json: { value } });

  it('a server with another key refuses to start; during a rolling rotation every server reads every secret', async () => {
    const a = await startTestServer({ databaseUrl: db.url, secretKey: keyA });
    servers.push(a);
    assert.equal((await put(a, 'one-value')).status, 201);
    await deploy(a, 'on-a');

    await assert.rejects(startTestServer({ databaseUrl: db.url, secretKey: keyB }), (err: unknown) => {
      assert.match(
        String(err),
        /FAAS_SECRET_KEY \(key id [0-9a-f]{16}\) is not the key this store's secrets are kept under/,
      );
      assert.match(String(err), /FAAS_SECRET_KEY_PREVIOUS/);
      assert.ok(!String(err).includes(keyB), 'the key itself is never printed');
      return true;
    });

    // Step 1, a server restarted with the new key and the old one as previous; `a` is not yet.
    const b = await startTestServer({ databaseUrl: db.url, secretKey: keyB, secretKeyPrevious: keyA });
    servers.push(b);
    await deploy(b, 'on-b');
    assert.deepEqual(await invoke(b, 'on-b'), { status: 200, body: reverse('one-value') });
    assert.deepEqual(
      await invoke(a, 'on-a'),
      { status: 200, body: reverse('one-value') },
      'the old server still reads',
    );
    // What the restarted server writes, the old one reads, and the other way round.
    assert.equal((await put(b, 'two-value')).status, 200);
    assert.deepEqual(await invoke(a, 'on-a'), { status: 200, body: reverse('two-value') });
    assert.equal((await put(a, 'three-value')).status, 200);
    assert.deepEqual(await invoke(b, 'on-b'), { status: 200, body: reverse('three-value') });

    // Step 2, every server holds the new key (here: `a` is left behind on purpose).
    const rotated = await faas(['secrets', 'rotate', '--json'], {
      FAAS_DATABASE_URL: db.url,
      FAAS_SECRET_KEY: keyB,
      FAAS_SECRET_KEY_PREVIOUS: keyA,
    });
    assert.equal(rotated.code, 0, rotated.stderr);
    const result = JSON.parse(rotated.stdout) as { keyId: string; reencrypted: number; unreadable: string[] };
    assert.deepEqual(
      { reencrypted: result.reencrypted, unreadable: result.unreadable },
      { reencrypted: 1, unreadable: [] },
    );
    assert.ok(
      !rotated.stdout.includes(keyB) && !rotated.stderr.includes(keyB),
      'the key itself is never printed',
    );
    assert.deepEqual(await invoke(b, 'on-b'), { status: 200, body: reverse('three-value') });

    // The server left on the old key does not write under it.
    const refused = await put(a, 'four-value');
    assert.equal(refused.status, 503);
    const error = ((await refused.json()) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'FAAS_ERR_SECRET_KEY_MISMATCH');
    assert.ok(!error.message.includes('four-value'));
    // The server on the store's key writes.
    assert.equal((await put(b, 'five-value')).status, 200);
    assert.deepEqual(await invoke(b, 'on-b'), { status: 200, body: reverse('five-value') });

    const again = await faas(['secrets', 'rotate'], {
      FAAS_DATABASE_URL: db.url,
      FAAS_SECRET_KEY: keyB,
      FAAS_SECRET_KEY_PREVIOUS: keyA,
    });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /re-encrypted 0 secret\(s\)/);
  });

  it('`faas secrets rotate` needs both keys and a store that holds one of them', async () => {
    const missing = await faas(['secrets', 'rotate'], {
      FAAS_DATABASE_URL: db.url,
      FAAS_SECRET_KEY: keyB,
      FAAS_SECRET_KEY_PREVIOUS: undefined,
    });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /FAAS_SECRET_KEY_PREVIOUS/);
    const other = Buffer.alloc(32, 7).toString('hex');
    const foreign = await faas(['secrets', 'rotate'], {
      FAAS_DATABASE_URL: db.url,
      FAAS_SECRET_KEY: other,
      FAAS_SECRET_KEY_PREVIOUS: Buffer.alloc(32, 8).toString('hex'),
    });
    assert.equal(foreign.code, 6, foreign.stderr);
    assert.match(foreign.stderr, /neither FAAS_SECRET_KEY/);
    assert.ok(!foreign.stderr.includes(other));
  });
});
