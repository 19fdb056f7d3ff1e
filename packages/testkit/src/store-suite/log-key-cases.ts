import assert from 'node:assert/strict';
import { it } from 'node:test';
import { type ApiKeyRecord, ErrorCode, type MetadataStore, type StoredLogLine } from '@faas/core';
import { rejectsWithCode } from '../assert-faas-error.ts';

type GetStore = () => MetadataStore;
type NewLine = Omit<StoredLogLine, 'seq'>;

const line = (invocationId: string, functionName: string, message: string, ts = Date.now()): NewLine => ({
  invocationId,
  functionName,
  ts,
  level: 'info',
  message,
});

function sampleKey(id: string, hash: string, overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    id,
    name: `key ${id}`,
    project: 'default',
    role: 'user',
    prefix: 'faas_abc',
    hash,
    createdAt: new Date().toISOString(),
    ...overrides,
  };
}

export function logCases(getStore: GetStore): void {
  it('getLogs returns one invocation’s lines in the order written, with every field', async () => {
    const store = getStore();
    await store.appendLogs([line('i1', 'f', 'one', 1.5), line('i2', 'f', 'other'), line('i1', 'f', 'two')]);
    await store.appendLogs([{ ...line('i1', 'f', 'three'), level: 'error' }]);
    const logs = await store.getLogs('i1');
    assert.deepEqual(
      logs.map((l) => l.message),
      ['one', 'two', 'three'],
    );
    assert.deepEqual(logs[0], { ...line('i1', 'f', 'one', 1.5), seq: logs[0]?.seq });
    assert.equal(logs[2]?.level, 'error');
    assert.deepEqual(await store.getLogs('nobody'), []);
    await store.appendLogs([]);
  });

  it('numbers lines with a seq that increases across the whole store', async () => {
    const store = getStore();
    await store.appendLogs([line('a', 'f', '1'), line('b', 'g', '2')]);
    await store.appendLogs([line('c', 'h', '3')]);
    await store.appendLogs([line('a', 'f', '4'), line('c', 'h', '5')]);
    const all = await store.tailLogs({ afterSeq: 0, limit: 100 });
    assert.deepEqual(
      all.map((l) => l.message),
      ['1', '2', '3', '4', '5'],
    );
    for (let i = 1; i < all.length; i++) assert.ok((all[i]?.seq ?? 0) > (all[i - 1]?.seq ?? 0));
    assert.ok((all[0]?.seq ?? 0) > 0, 'afterSeq 0 must return the first line');
  });

  it('tailLogs follows from a seq, per function or all, oldest first, at most limit', async () => {
    const store = getStore();
    const lines = Array.from({ length: 10 }, (_, i) =>
      line(`inv${i % 3}`, i % 2 === 0 ? 'even' : 'odd', `m${i}`),
    );
    await store.appendLogs(lines);
    const first = await store.tailLogs({ afterSeq: 0, limit: 4 });
    assert.deepEqual(
      first.map((l) => l.message),
      ['m0', 'm1', 'm2', 'm3'],
    );
    const next = await store.tailLogs({ afterSeq: first.at(-1)?.seq ?? 0, limit: 4 });
    assert.deepEqual(
      next.map((l) => l.message),
      ['m4', 'm5', 'm6', 'm7'],
    );
    const odd = await store.tailLogs({ functionName: 'odd', afterSeq: first[1]?.seq ?? 0 });
    assert.deepEqual(
      odd.map((l) => l.message),
      ['m3', 'm5', 'm7', 'm9'],
    );
    const end = await store.tailLogs({
      afterSeq: (await store.tailLogs({ afterSeq: 0, limit: 100 })).at(-1)?.seq ?? 0,
    });
    assert.deepEqual(end, []);
  });
}

export function keyCases(getStore: GetStore): void {
  it('finds an active key by hash, lists keys and counts them', async () => {
    const store = getStore();
    assert.equal(await store.countApiKeys(), 0);
    const admin = sampleKey('key_1', 'h1', { role: 'admin', lastUsedAt: new Date().toISOString() });
    const user = sampleKey('key_2', 'h2');
    await store.createApiKey(admin);
    await store.createApiKey(user);
    assert.deepEqual(await store.findApiKeyByHash('h1'), admin);
    assert.deepEqual(await store.findApiKeyByHash('h2'), user);
    assert.equal(await store.findApiKeyByHash('h3'), undefined);
    assert.deepEqual((await store.listApiKeys()).map((k) => k.id).sort(), ['key_1', 'key_2']);
    assert.equal(await store.countApiKeys(), 2);
  });

  it('revokes a key once: it stops being found but stays listed and counted', async () => {
    const store = getStore();
    await store.createApiKey(sampleKey('key_1', 'h1'));
    assert.equal(await store.revokeApiKey('key_1'), true);
    assert.equal(await store.findApiKeyByHash('h1'), undefined);
    const [listed] = await store.listApiKeys();
    assert.ok(listed?.revokedAt && !Number.isNaN(Date.parse(listed.revokedAt)));
    assert.equal(await store.countApiKeys(), 1);
    assert.equal(await store.revokeApiKey('key_1'), false);
    assert.equal(await store.revokeApiKey('key_missing'), false);
  });

  it('accepts a revoked key’s hash again, and refuses a taken id or active hash with CONFLICT', async () => {
    const store = getStore();
    await store.createApiKey(sampleKey('key_1', 'h1'));
    await rejectsWithCode(store.createApiKey(sampleKey('key_1', 'other')), ErrorCode.CONFLICT);
    await rejectsWithCode(store.createApiKey(sampleKey('key_2', 'h1')), ErrorCode.CONFLICT);
    await store.revokeApiKey('key_1');
    await store.createApiKey(sampleKey('key_3', 'h1'));
    assert.equal((await store.findApiKeyByHash('h1'))?.id, 'key_3');
    assert.equal(await store.countApiKeys(), 2);
  });

  it('changes an active key’s name, rate limit and expiry; null clears; a revoked or unknown key is undefined', async () => {
    const store = getStore();
    const key = sampleKey('key_1', 'h1', { rateLimit: { requestsPerSecond: 1, burst: 2 } });
    await store.createApiKey(key);
    const limit = { requestsPerSecond: 5, burst: 10 };
    const changed = await store.updateApiKey('key_1', {
      name: 'renamed',
      rateLimit: limit,
      expiresAt: '2999-01-01T00:00:00.000Z',
    });
    assert.deepEqual(changed, {
      ...key,
      name: 'renamed',
      rateLimit: limit,
      expiresAt: '2999-01-01T00:00:00.000Z',
    });
    assert.deepEqual(await store.findApiKeyByHash('h1'), changed);
    const cleared = await store.updateApiKey('key_1', { rateLimit: null, expiresAt: null });
    assert.equal(cleared?.rateLimit, undefined);
    assert.equal(cleared?.expiresAt, undefined);
    assert.equal(cleared?.name, 'renamed');
    assert.deepEqual(await store.updateApiKey('key_1', {}), cleared);
    assert.equal(await store.updateApiKey('key_missing', { name: 'x' }), undefined);
    await store.revokeApiKey('key_1');
    assert.equal(await store.updateApiKey('key_1', { name: 'back' }), undefined);
    assert.equal((await store.listApiKeys())[0]?.name, 'renamed');
  });

  it('stores settings: absent is undefined, a second set overwrites', async () => {
    const store = getStore();
    assert.equal(await store.getSetting('s'), undefined);
    await store.setSetting('s', 'one');
    await store.setSetting('t', '');
    assert.equal(await store.getSetting('s'), 'one');
    assert.equal(await store.getSetting('t'), '');
    await store.setSetting('s', 'two');
    assert.equal(await store.getSetting('s'), 'two');
  });

  it('claims a setting once: the first value stays, a later claim answers it', async () => {
    const store = getStore();
    assert.equal(await store.claimSetting('c', 'first'), 'first');
    assert.equal(await store.claimSetting('c', 'second'), 'first');
    assert.equal(await store.getSetting('c'), 'first');
    await store.setSetting('c', 'set');
    assert.equal(await store.claimSetting('c', 'third'), 'set');
  });
}
