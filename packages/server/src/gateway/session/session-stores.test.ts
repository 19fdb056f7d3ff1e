import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import {
  type ActiveKey,
  type ApiKeyRecord,
  csrfMatches,
  ErrorCode,
  FaasError,
  KEY_RECHECK_MS,
  MAX_SESSIONS_PER_KEY,
  SESSION_TTL_MS,
  type SessionStore,
  TICKET_TTL_MS,
} from '@faas/core';
import { Redis } from 'ioredis';
import { RedisSessionStore } from '../../queue/redis/redis-session-store.ts';
import { dropQueueKeys, NO_REDIS, startTcpProxy, TEST_REDIS_URL } from '../../queue/redis/test-support.ts';
import { MemorySessionStore } from './memory-session-store.ts';

const key: ApiKeyRecord = {
  id: 'key_1',
  name: 'k',
  project: 'default',
  role: 'admin',
  prefix: 'faas_abcdef',
  hash: 'h',
  createdAt: new Date(0).toISOString(),
};
const active: ActiveKey = async (hash) => (hash === key.hash ? key : undefined);

interface Backend {
  name: string;
  skip: string | false;
  /** Two stores over the same data, as two gateways see it (in memory: the same store twice). */
  open(now?: () => number): Promise<[SessionStore, SessionStore]>;
}

const prefixes: string[] = [];
const opened: SessionStore[] = [];
after(async () => {
  for (const s of opened) await s.close();
  if (TEST_REDIS_URL) for (const p of prefixes) await dropQueueKeys(TEST_REDIS_URL, p);
});

const backends: Backend[] = [
  {
    name: 'in memory',
    skip: false,
    async open(now) {
      const store = new MemorySessionStore(now);
      return [store, store];
    },
  },
  {
    name: 'in Redis',
    skip: TEST_REDIS_URL ? false : NO_REDIS,
    async open(now) {
      const prefix = `sessions-test-${randomUUID()}`;
      prefixes.push(prefix);
      const a = await RedisSessionStore.open(TEST_REDIS_URL as string, prefix, console, now);
      const b = await RedisSessionStore.open(TEST_REDIS_URL as string, prefix, console, now);
      opened.push(a, b);
      return [a, b];
    },
  },
];

for (const backend of backends) {
  describe(`session store ${backend.name}`, { skip: backend.skip }, () => {
    it('finds a session by the id it gave, and no other', async () => {
      const [store] = await backend.open();
      const { id, session } = await store.create(key);
      assert.equal((await store.find(id, active))?.key.id, 'key_1');
      assert.equal(await store.find(`${id}x`, active), undefined);
      assert.ok(csrfMatches(session, session.csrfToken));
      assert.ok(!csrfMatches(session, undefined));
      // One character changed (never to itself: a token ending in "A" made this pass by chance).
      const last = session.csrfToken.endsWith('A') ? 'B' : 'A';
      assert.ok(!csrfMatches(session, `${session.csrfToken.slice(0, -1)}${last}`));
    });

    it('shares sessions between gateways: signed in on one, used and signed out on the other', async () => {
      const [a, b] = await backend.open();
      const { id, session } = await a.create(key);
      const onB = await b.find(id, active);
      assert.equal(onB?.key.id, 'key_1');
      assert.equal(onB?.csrfToken, session.csrfToken);
      await b.delete(id);
      assert.equal(await a.find(id, active), undefined, 'signed out everywhere');
    });

    it('ends a session at sign-out and at its expiry', async () => {
      let now = Date.now();
      const [store] = await backend.open(() => now);
      const first = await store.create(key);
      await store.delete(first.id);
      assert.equal(await store.find(first.id, active), undefined);
      await store.delete(first.id);
      const second = await store.create(key);
      now += SESSION_TTL_MS;
      assert.equal(await store.find(second.id, active), undefined);
    });

    it('re-checks the key only when due, and a revoked key ends its session for good', async () => {
      let now = Date.now();
      const [a, b] = await backend.open(() => now);
      const { id } = await a.create(key);
      let asked = 0;
      const counting: ActiveKey = async (hash) => {
        asked++;
        return active(hash);
      };
      await a.find(id, counting);
      assert.equal(asked, 0, 'checked at sign-in');
      now += KEY_RECHECK_MS;
      await a.find(id, counting);
      assert.equal(asked, 1);
      now += 60_000;
      assert.equal(await b.find(id, async () => undefined), undefined, 'revoked');
      assert.equal(await a.find(id, active), undefined, 'gone for good, on every gateway');
    });

    it("keeps at most MAX_SESSIONS_PER_KEY of one key's sessions, ending its oldest, and no other key's", async () => {
      const [store] = await backend.open();
      const other: ApiKeyRecord = { ...key, id: 'key_2', hash: 'h2' };
      const both: ActiveKey = async (hash) => [key, other].find((k) => k.hash === hash);
      const theirs = await store.create(other);
      const ids: string[] = [];
      for (let i = 0; i < MAX_SESSIONS_PER_KEY + 5; i++) ids.push((await store.create(key)).id);
      for (const [i, id] of ids.entries()) {
        assert.equal((await store.find(id, both)) !== undefined, i >= 5, `session ${i}`);
      }
      assert.equal((await store.find(theirs.id, both))?.key.id, 'key_2', "another key's session stays");
      await store.delete(ids.at(-1) as string);
      ids.push((await store.create(key)).id);
      assert.ok(await store.find(ids[5] as string, both), 'a signed-out session no longer counts');
    });

    it('redeems a ticket once, for its instance, before it expires', async () => {
      let now = Date.now();
      const [store] = await backend.open(() => now);
      const { ticket } = await store.issueTicket(key, 'ins_1');
      assert.equal((await store.redeemTicket(ticket, 'ins_1'))?.keyHash, key.hash);
      assert.equal(await store.redeemTicket(ticket, 'ins_1'), undefined, 'single use');
      const other = (await store.issueTicket(key, 'ins_1')).ticket;
      assert.equal(await store.redeemTicket(other, 'ins_2'), undefined, 'another instance');
      assert.equal(await store.redeemTicket(other, 'ins_1'), undefined, 'a refused try uses it up');
      const late = (await store.issueTicket(key, 'ins_1')).ticket;
      now += TICKET_TTL_MS;
      assert.equal(await store.redeemTicket(late, 'ins_1'), undefined, 'expired');
    });

    it('gives a ticket redeemed on two gateways at once to one of them only', async () => {
      const [a, b] = await backend.open();
      const tickets = await Promise.all(Array.from({ length: 50 }, () => a.issueTicket(key, 'ins_1')));
      const wins = await Promise.all(
        tickets.map(async ({ ticket }) => {
          const got = await Promise.all([a.redeemTicket(ticket, 'ins_1'), b.redeemTicket(ticket, 'ins_1')]);
          return got.filter((t) => t !== undefined).length;
        }),
      );
      assert.deepEqual(new Set(wins), new Set([1]));
    });
  });
}

describe('session store in Redis: what Redis holds, and Redis failing', {
  skip: TEST_REDIS_URL ? false : NO_REDIS,
}, () => {
  it('keeps only hashes, with the TTLs of sessions and tickets', async () => {
    const url = TEST_REDIS_URL as string;
    const prefix = `sessions-test-${randomUUID()}`;
    prefixes.push(prefix);
    const store = await RedisSessionStore.open(url, prefix);
    opened.push(store);
    const { id, session } = await store.create(key);
    const { ticket } = await store.issueTicket(key, 'ins_1');
    const redis = new Redis(url);
    try {
      const keys = (await redis.keys(`{${prefix}}:*`)).filter((k) => !k.includes(':sessions-of:'));
      assert.equal(keys.length, 2);
      for (const k of keys) {
        const value = (await redis.get(k)) as string;
        for (const clear of [id, ticket]) {
          assert.ok(!k.includes(clear) && !value.includes(clear), 'neither id nor ticket in clear');
        }
        const ttl = await redis.pttl(k);
        const limit = k.includes(':session:') ? SESSION_TTL_MS : TICKET_TTL_MS;
        assert.ok(ttl > 0 && ttl <= limit, `${k} expires (${ttl} ms)`);
      }
      const stored = JSON.parse(
        (await redis.get(keys.find((k) => k.includes(':session:')) as string)) as string,
      );
      assert.deepEqual(Object.keys(stored).sort(), ['csrfToken', 'expiresAt', 'keyHash']);
      assert.equal(stored.csrfToken, session.csrfToken);
      // Something else under a session's key signs no one in.
      await redis.set(keys.find((k) => k.includes(':session:')) as string, '{"keyHash":1}');
      assert.equal(await store.find(id, active), undefined);
    } finally {
      redis.disconnect();
    }
  });

  it('answers storage unavailable, never signed in, while Redis cannot be reached', async () => {
    const proxy = await startTcpProxy(TEST_REDIS_URL as string);
    const prefix = `sessions-test-${randomUUID()}`;
    prefixes.push(prefix);
    const store = await RedisSessionStore.open(proxy.url, prefix);
    opened.push(store);
    try {
      const { id } = await store.create(key);
      const { ticket } = await store.issueTicket(key, 'ins_1');
      await proxy.cut();
      const unavailable = (err: unknown) =>
        err instanceof FaasError && err.code === ErrorCode.STORAGE_UNAVAILABLE;
      await assert.rejects(store.find(id, active), unavailable);
      await assert.rejects(store.create(key), unavailable);
      await assert.rejects(store.delete(id), unavailable);
      await assert.rejects(store.issueTicket(key, 'ins_1'), unavailable);
      await assert.rejects(store.redeemTicket(ticket, 'ins_1'), unavailable);
    } finally {
      await proxy.close();
    }
  });

  it("bounds a key's sessions with a set that sign-out updates and that expires", async () => {
    const url = TEST_REDIS_URL as string;
    const prefix = `sessions-test-${randomUUID()}`;
    prefixes.push(prefix);
    const store = await RedisSessionStore.open(url, prefix);
    opened.push(store);
    const ids: string[] = [];
    for (let i = 0; i < MAX_SESSIONS_PER_KEY + 5; i++) ids.push((await store.create(key)).id);
    const redis = new Redis(url);
    try {
      const set = `{${prefix}}:sessions-of:${key.hash}`;
      assert.equal(await redis.zcard(set), MAX_SESSIONS_PER_KEY);
      await store.delete(ids.at(-1) as string);
      assert.equal(await redis.zcard(set), MAX_SESSIONS_PER_KEY - 1, 'a sign-out no longer counts');
      assert.ok((await redis.pttl(set)) > 0, 'the set expires too');
    } finally {
      redis.disconnect();
    }
  });
});
