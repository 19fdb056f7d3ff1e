import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
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
