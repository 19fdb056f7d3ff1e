import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { MetadataStore, SecretRecord } from '@faas/core';

type GetStore = () => MetadataStore;

function sampleSecret(project: string, name: string, overrides: Partial<SecretRecord> = {}): SecretRecord {
  return {
    project,
    name,
    ciphertext: `ct-${project}-${name}`,
    keyId: 'k1',
    createdAt: '2030-01-01T00:00:00.000Z',
    updatedAt: '2030-01-01T00:00:00.000Z',
    ...overrides,
  };
}

/** Projects' secrets: kept per project, replaced in place, listed and deleted per project. */
export function secretCases(getStore: GetStore): void {
  it('puts, gets and lists secrets per project; a name is per project', async () => {
    const store = getStore();
    await store.putSecret(sampleSecret('team-a', 'DB_PASSWORD'));
    await store.putSecret(sampleSecret('team-a', 'API_TOKEN'));
    await store.putSecret(sampleSecret('team-b', 'DB_PASSWORD'));
    assert.deepEqual(
      (await store.listSecrets('team-a')).map((s) => s.name),
      ['API_TOKEN', 'DB_PASSWORD'],
    );
    assert.deepEqual(
      (await store.listSecrets()).map((s) => `${s.project}/${s.name}`),
      ['team-a/API_TOKEN', 'team-a/DB_PASSWORD', 'team-b/DB_PASSWORD'],
    );
    const got = await store.getSecrets('team-b', ['DB_PASSWORD', 'API_TOKEN', 'NOPE']);
    assert.deepEqual(got, [sampleSecret('team-b', 'DB_PASSWORD')]);
    assert.deepEqual(await store.getSecrets('team-a', []), []);
    assert.deepEqual(await store.listSecrets('team-c'), []);
  });

  it('replaces a value in place, keeping when the secret was created', async () => {
    const store = getStore();
    await store.putSecret(sampleSecret('p', 'TOKEN'));
    await store.putSecret(
      sampleSecret('p', 'TOKEN', {
        ciphertext: 'new',
        keyId: 'k2',
        createdAt: '2031-01-01T00:00:00.000Z',
        updatedAt: '2031-01-01T00:00:00.000Z',
      }),
    );
    assert.deepEqual(await store.listSecrets('p'), [
      sampleSecret('p', 'TOKEN', { ciphertext: 'new', keyId: 'k2', updatedAt: '2031-01-01T00:00:00.000Z' }),
    ]);
  });

  it('replaces a ciphertext only while it is still the one expected', async () => {
    const store = getStore();
    await store.putSecret(sampleSecret('p', 'TOKEN'));
    const next = { ciphertext: 'reencrypted', keyId: 'k2' };
    assert.equal(await store.replaceSecretCiphertext('p', 'TOKEN', 'set-since', next), false);
    assert.deepEqual(await store.listSecrets('p'), [sampleSecret('p', 'TOKEN')]);
    assert.equal(await store.replaceSecretCiphertext('p', 'TOKEN', 'ct-p-TOKEN', next), true);
    assert.deepEqual(await store.listSecrets('p'), [sampleSecret('p', 'TOKEN', next)], 'times kept');
    assert.equal(await store.replaceSecretCiphertext('p', 'GONE', 'ct-p-GONE', next), false);
    assert.deepEqual(await store.listSecrets('p'), [sampleSecret('p', 'TOKEN', next)]);
  });

  it("deletes a project's secret, never another project's of the same name", async () => {
    const store = getStore();
    await store.putSecret(sampleSecret('team-a', 'TOKEN'));
    await store.putSecret(sampleSecret('team-b', 'TOKEN'));
    assert.equal(await store.deleteSecret('team-c', 'TOKEN'), false);
    assert.equal(await store.deleteSecret('team-a', 'TOKEN'), true);
    assert.equal(await store.deleteSecret('team-a', 'TOKEN'), false);
    assert.deepEqual(
      (await store.listSecrets()).map((s) => `${s.project}/${s.name}`),
      ['team-b/TOKEN'],
    );
  });
}
