import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ApiKeyRecord } from '@faas/core';
import { csrfMatches, SESSION_TTL_MS, SessionStore, TICKET_TTL_MS } from './session-store.ts';

const key: ApiKeyRecord = {
  id: 'key_1',
  name: 'k',
  project: 'default',
  role: 'admin',
  prefix: 'faas_abcdef',
  hash: 'h',
  createdAt: new Date(0).toISOString(),
};
const active = async (k: ApiKeyRecord) => k;

describe('SessionStore', () => {
  it('finds a session by the id it gave, and no other', async () => {
    const store = new SessionStore();
    const { id, session } = store.create(key);
    assert.equal((await store.find(id, active))?.key.id, 'key_1');
    assert.equal(await store.find(`${id}x`, active), undefined);
    assert.ok(csrfMatches(session, session.csrfToken));
    assert.ok(!csrfMatches(session, undefined));
    assert.ok(!csrfMatches(session, `${session.csrfToken.slice(0, -1)}A`));
  });

  it('ends a session at sign-out and at its expiry', async () => {
    let now = 1_000;
    const store = new SessionStore(() => now);
    const first = store.create(key);
    store.delete(first.id);
    assert.equal(await store.find(first.id, active), undefined);
    const second = store.create(key);
    now += SESSION_TTL_MS;
    assert.equal(await store.find(second.id, active), undefined);
  });

  it('ends a session whose key was revoked, once the key is checked again', async () => {
    let now = 1_000;
    const store = new SessionStore(() => now);
    const { id } = store.create(key);
    now += 60_000;
    assert.equal(await store.find(id, async () => undefined), undefined);
    assert.equal(await store.find(id, active), undefined, 'gone for good');
  });

  it('redeems a ticket once, for its instance, before it expires', () => {
    let now = 1_000;
    const store = new SessionStore(() => now);
    const { ticket } = store.issueTicket(key, 'ins_1');
    assert.equal(store.redeemTicket(ticket, 'ins_1')?.key?.id, 'key_1');
    assert.equal(store.redeemTicket(ticket, 'ins_1'), undefined, 'single use');
    const other = store.issueTicket(key, 'ins_1').ticket;
    assert.equal(store.redeemTicket(other, 'ins_2'), undefined, 'another instance');
    assert.equal(store.redeemTicket(other, 'ins_1'), undefined, 'a refused try uses it up');
    const late = store.issueTicket(key, 'ins_1').ticket;
    now += TICKET_TTL_MS;
    assert.equal(store.redeemTicket(late, 'ins_1'), undefined, 'expired');
  });
});
