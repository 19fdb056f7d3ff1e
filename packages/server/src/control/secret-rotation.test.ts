import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type FunctionVersion, isFaasError, type MetadataStore } from '@faas/core';
import { createTestDatabase, postgresSkipReason, postgresTestUrl, sampleVersion } from '@faas/testkit';
import { openPostgresStore } from '../store/postgres/postgres-store.ts';
import { openSqliteStore } from '../store/sqlite/sqlite-store.ts';
import { SecretService } from './secret-service.ts';
import { SecretVault } from './secret-vault.ts';

type SecretStore = ConstructorParameters<typeof SecretService>[0];

const fn: FunctionVersion = {
  ...sampleVersion('uses-db', { secrets: ['DB'] }),
  version: 1,
  createdAt: '2030-01-01T00:00:00.000Z',
};

/** The secret DB as a function of project p sees it through this service. */
async function revealed(service: SecretService): Promise<string | undefined> {
  return (await service.reveal(fn, 'p')).fn.env.DB;
}

/**
 * The store as a SecretService uses it, running `during` once right after a listing of every
 * project's secrets answered: what another server does while a re-encryption works through its list.
 */
function listingHook(store: MetadataStore): {
  store: SecretStore;
  during(run: () => Promise<unknown>): void;
} {
  let hook: (() => Promise<unknown>) | undefined;
  return {
    store: {
      putSecret: (s) => store.putSecret(s),
      replaceSecretCiphertext: (project, name, expected, next) =>
        store.replaceSecretCiphertext(project, name, expected, next),
      getSecrets: (project, names) => store.getSecrets(project, names),
      listSecrets: async (project) => {
        const listed = await store.listSecrets(project);
        const run = project === undefined ? hook : undefined;
        if (run) {
          hook = undefined;
          await run();
        }
        return listed;
      },
      deleteSecret: (project, name) => store.deleteSecret(project, name),
      getSetting: (key) => store.getSetting(key),
      setSetting: (key, value) => store.setSetting(key, value),
      claimSetting: (key, value) => store.claimSetting(key, value),
    },
    during(run) {
      hook = run;
    },
  };
}

/**
 * A rolling rotation of FAAS_SECRET_KEY over a store servers share: a server restarted with the
 * new key (and the old as FAAS_SECRET_KEY_PREVIOUS) must leave the secrets readable to those not
 * restarted yet, and the re-encryption, once asked for, must not undo a value set meanwhile.
 */
function rotationCases(open: () => Promise<MetadataStore>): void {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  let store: MetadataStore;
  before(async () => {
    store = await open();
  });
  after(() => store?.close());

  it('a server still on the old key reads and writes secrets while others restart with the new one', async () => {
    const old = new SecretService(store, new SecretVault(oldKey));
    await old.checkStoreKey({ shared: true, warn: assert.fail });
    await old.set('p', 'DB', 'pw-1');

    const restarted = new SecretService(store, new SecretVault(newKey, oldKey));
    const started = await restarted.checkStoreKey({ shared: true, warn: assert.fail });
    assert.equal(await revealed(old), 'pw-1', 'the old server still decrypts');
    assert.deepEqual(
      started,
      { reencrypted: 0, unreadable: [], pending: true },
      'a start alone moves nothing',
    );
    assert.equal(await revealed(restarted), 'pw-1');
    // Until the rotation is asked for, a restarted server writes under the store's key.
    await restarted.set('p', 'DB', 'pw-2');
    assert.equal(await revealed(old), 'pw-2');

    // Every server restarted: the rotation moves the store to the new key.
    assert.deepEqual(await restarted.rotate(), { reencrypted: 1, unreadable: [] });
    const [row] = await store.getSecrets('p', ['DB']);
    assert.equal(row?.keyId, new SecretVault(newKey).keyId);
    assert.equal(await revealed(restarted), 'pw-2');
    await restarted.set('p', 'DB', 'pw-3');
    assert.equal(await revealed(restarted), 'pw-3');
    // One left behind on the old key does not write what the others cannot read.
    await assert.rejects(old.set('p', 'DB', 'pw-4'), (err) => {
      assert.ok(isFaasError(err) && err.code === 'FAAS_ERR_SECRET_KEY_MISMATCH');
      return true;
    });
    assert.deepEqual(await restarted.rotate(), { reencrypted: 0, unreadable: [] }, 'nothing left to move');
  });

  it('a value set while the re-encryption works through its list is kept, not replaced by the old one', async () => {
    await store.setSetting('secret-key-id', new SecretVault(oldKey).keyId);
    const old = new SecretService(store, new SecretVault(oldKey));
    await old.set('p', 'DB', 'before');
    const hooked = listingHook(store);
    const rotating = new SecretService(hooked.store, new SecretVault(newKey, oldKey));
    // Another server sets the value between the re-encryption's listing and its write.
    hooked.during(() => old.set('p', 'DB', 'set-meanwhile'));
    await rotating.reencryptStale();
    assert.equal(await revealed(rotating), 'set-meanwhile');
    const [row] = await store.getSecrets('p', ['DB']);
    assert.equal(row?.keyId, new SecretVault(newKey).keyId, 'and it is under the new key too');
  });
}

describe('rotating the secret key on SQLite', () => {
  rotationCases(() => openSqliteStore({ path: ':memory:' }));
});

describe('rotating the secret key on PostgreSQL', { skip: postgresSkipReason() }, () => {
  let db: { url: string; drop(): Promise<void> };
  before(async () => {
    db = await createTestDatabase(postgresTestUrl() as string);
  });
  rotationCases(() => openPostgresStore({ url: db.url }));
  // After the cases' own hook closed the store.
  after(() => db?.drop());
});
