import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, postgresSkipReason, postgresTestUrl } from '@faas/testkit';
import { startTestServer, type TestServer, tempDataDir } from '../support/server.ts';

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

/**
 * Servers sharing one PostgreSQL store must share FAAS_SECRET_KEY: the store keeps the id of the
 * key its secrets are under, a server with another key does not start, and one left on the old
 * key after another rotated refuses secret writes rather than write what the others cannot read.
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

  it('a server with another key refuses to start; after a rotation elsewhere, the old one refuses secret writes', async () => {
    const a = await startTestServer({ databaseUrl: db.url, secretKey: keyA });
    servers.push(a);
    assert.equal(
      (await a.api('/api/v1/secrets/SHARED', { method: 'PUT', json: { value: 'one-value' } })).status,
      201,
    );

    await assert.rejects(startTestServer({ databaseUrl: db.url, secretKey: keyB }), (err: unknown) => {
      assert.match(
        String(err),
        /FAAS_SECRET_KEY \(key id [0-9a-f]{16}\) is not the key this store's secrets are kept under/,
      );
      assert.match(String(err), /FAAS_SECRET_KEY_PREVIOUS/);
      assert.ok(!String(err).includes(keyB), 'the key itself is never printed');
      return true;
    });

    // The rotation: the new key with the old one as previous starts, and re-encrypts.
    const b = await startTestServer({ databaseUrl: db.url, secretKey: keyB, secretKeyPrevious: keyA });
    servers.push(b);
    // Each server has blobs of its own here: the function is deployed where it runs.
    const deployed = await b.api('/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'shared',
        runtime: 'js',
        secrets: ['SHARED'],
        code: 'export default () => [...process.env.SHARED].reverse().join("")',
      },
    });
    assert.equal(deployed.status, 201);
    const invoked = await b.api('/api/v1/functions/shared/invoke', { method: 'POST', json: {} });
    assert.equal(await invoked.json(), reverse('one-value'));

    // The server left on the old key does not write under it.
    const refused = await a.api('/api/v1/secrets/SHARED', { method: 'PUT', json: { value: 'two-value' } });
    assert.equal(refused.status, 503);
    const error = ((await refused.json()) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'FAAS_ERR_SECRET_KEY_MISMATCH');
    assert.ok(!error.message.includes('two-value'));
    assert.equal(
      await (await b.api('/api/v1/functions/shared/invoke', { method: 'POST', json: {} })).json(),
      reverse('one-value'),
      'the value is the one written before',
    );
    // The server on the store's key writes.
    assert.equal(
      (await b.api('/api/v1/secrets/SHARED', { method: 'PUT', json: { value: 'two-value' } })).status,
      200,
    );
    assert.equal(
      await (await b.api('/api/v1/functions/shared/invoke', { method: 'POST', json: {} })).json(),
      reverse('two-value'),
    );
  });
});
