import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { AuditEntry, MetadataStore } from '@faas/core';

type GetStore = () => MetadataStore;

function entry(n: number, overrides: Partial<AuditEntry> = {}): AuditEntry {
  return {
    // Ids sort by time, as newId's do.
    id: `aud_${String(n).padStart(4, '0')}`,
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
    project: 'default',
    actor: { keyId: 'key_a', keyName: 'ci', role: 'developer' },
    action: 'POST /api/v1/functions',
    target: `functions/f${n}`,
    status: 201,
    address: '127.0.0.1',
    ...overrides,
  };
}

export function auditCases(getStore: GetStore): void {
  it('round-trips entries newest first; a missing target stays absent', async () => {
    const store = getStore();
    const { target: _, ...untargeted } = entry(2, { action: 'POST /api/v1/execute' });
    await store.appendAudit(entry(1));
    await store.appendAudit(untargeted);
    const page = await store.listAudit({}, {});
    assert.deepEqual(page.items, [untargeted, entry(1)]);
    assert.equal(page.nextCursor, undefined);
  });

  it('filters by project, action, actor and time, and pages', async () => {
    const store = getStore();
    for (let n = 1; n <= 7; n++) {
      await store.appendAudit(
        entry(n, {
          project: n % 2 === 0 ? 'beta' : 'default',
          action: n === 3 ? 'DELETE /api/v1/keys/:id' : 'POST /api/v1/functions',
          actor: { keyId: n === 5 ? 'key_b' : 'key_a', keyName: 'ci', role: 'owner' },
        }),
      );
    }
    const ids = async (filter: Parameters<MetadataStore['listAudit']>[0]) =>
      (await store.listAudit(filter, {})).items.map((e) => e.id);
    assert.deepEqual(await ids({ project: 'beta' }), ['aud_0006', 'aud_0004', 'aud_0002']);
    assert.deepEqual(await ids({ action: 'DELETE /api/v1/keys/:id' }), ['aud_0003']);
    assert.deepEqual(await ids({ actorKeyId: 'key_b' }), ['aud_0005']);
    assert.deepEqual(await ids({ since: entry(3).at, until: entry(5).at }), ['aud_0004', 'aud_0003']);
    const first = await store.listAudit({ project: 'default' }, { limit: 2 });
    assert.deepEqual(
      first.items.map((e) => e.id),
      ['aud_0007', 'aud_0005'],
    );
    assert.ok(first.nextCursor);
    const second = await store.listAudit({ project: 'default' }, { limit: 2, cursor: first.nextCursor });
    assert.deepEqual(
      second.items.map((e) => e.id),
      ['aud_0003', 'aud_0001'],
    );
  });

  it('filters by target: the objects named and what is under them, nothing that only starts alike', async () => {
    const store = getStore();
    const targets = ['functions/a', 'functions/a/versions/2', 'functions/ab', 'functions/b', 'keys/key_a'];
    for (const [i, target] of targets.entries()) await store.appendAudit(entry(i + 1, { target }));
    const { target: _, ...untargeted } = entry(9, { action: 'POST /api/v1/execute' });
    await store.appendAudit(untargeted);
    const ids = async (targets: string[]) =>
      (await store.listAudit({ targets }, {})).items.map((e) => e.target);
    assert.deepEqual(await ids(['functions/a']), ['functions/a/versions/2', 'functions/a']);
    assert.deepEqual(await ids(['functions/a', 'functions/b']), [
      'functions/b',
      'functions/a/versions/2',
      'functions/a',
    ]);
    assert.deepEqual(await ids(['functions/a_']), [], 'a name is not a pattern');
    assert.deepEqual(await ids([]), []);
  });

  it('deletes old entries in batches, never newer ones', async () => {
    const store = getStore();
    for (let n = 1; n <= 5; n++) await store.appendAudit(entry(n));
    assert.equal(await store.deleteOldAudit({ before: entry(4).at, limit: 2 }), 2);
    assert.equal(await store.deleteOldAudit({ before: entry(4).at, limit: 2 }), 1);
    assert.equal(await store.deleteOldAudit({ before: entry(4).at, limit: 2 }), 0);
    assert.deepEqual(
      (await store.listAudit({}, {})).items.map((e) => e.id),
      ['aud_0005', 'aud_0004'],
    );
  });
}
