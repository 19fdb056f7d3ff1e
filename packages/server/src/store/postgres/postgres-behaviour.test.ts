import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { ErrorCode, isFaasError, type NewLogLine } from '@faas/core';
import {
  createTestDatabase,
  eventually,
  postgresSkipReason,
  postgresTestUrl,
  queryTestDatabase,
  sampleInvocation,
  sampleVersion,
} from '@faas/testkit';
import pg from 'pg';
import { encodeCursor } from '../page-cursor.ts';
import { logArrays, logLinesFrom } from './log-lines.ts';
import { openPostgresStore, type PostgresStore } from './postgres-store.ts';

const line = (invocationId: string, message: string): NewLogLine => ({
  invocationId,
  functionName: 'fn',
  ts: 1,
  level: 'log',
  message,
});

const withCode = (code: string) => (err: unknown) => isFaasError(err) && err.code === code;

/** What PostgreSQL adds to the conformance suite: its own limits, races across connections, NOTIFY. */
describe('PostgresStore beyond the conformance suite', { skip: postgresSkipReason() }, () => {
  let db: { url: string; drop(): Promise<void> };
  let store: PostgresStore;
  let peer: PostgresStore;
  before(async () => {
    db = await createTestDatabase(postgresTestUrl() as string);
  });
  after(() => db?.drop());
  beforeEach(async () => {
    store = await openPostgresStore({ url: db.url, poolSize: 4 });
    peer = await openPostgresStore({ url: db.url, poolSize: 4 });
    await queryTestDatabase(
      db.url,
      'TRUNCATE functions, function_versions, routes, invocations, logs, api_keys, settings, snapshots',
    );
  });
  afterEach(async () => {
    await store.close();
    await peer.close();
  });

  it('stores a NUL (which PostgreSQL text cannot hold) as U+FFFD, so a record with one is never refused', async () => {
    const inv = sampleInvocation({ idempotencyKey: 'key\0with nul', result: 'r\0' });
    await store.createInvocations([inv]);
    await store.appendLogs([line(inv.id, 'before\0after')]);
    assert.deepEqual(
      (await store.getLogs(inv.id)).map((l) => l.message),
      ['before\uFFFDafter'],
    );
    const back = await store.getInvocation(inv.id);
    assert.equal(back?.idempotencyKey, 'key\uFFFDwith nul');
    assert.equal(back?.result, 'r\0', 'JSON keeps it escaped');
    // The same key finds the same invocation.
    const again = await store.createInvocation(sampleInvocation({ idempotencyKey: 'key\0with nul' }));
    assert.equal(again.created, false);
    assert.equal(again.invocation.id, inv.id);
  });

  it('answers numbers no bigint can hold as SQLite does: absent, or a foreign cursor', async () => {
    await store.createFunction(sampleVersion('f'));
    for (const version of [1e20, 1.5, Number.MAX_VALUE]) {
      assert.equal(await store.getVersion('f', version), undefined);
    }
    for (const cursor of [encodeCursor([1.5, 'x']), encodeCursor([1e300, 'x'])]) {
      await assert.rejects(store.listInvocations({}, { cursor }), withCode(ErrorCode.BAD_REQUEST));
      await assert.rejects(store.listSnapshots({}, { cursor }), withCode(ErrorCode.BAD_REQUEST));
    }
    await assert.rejects(
      store.listVersions('f', { cursor: encodeCursor([1e20]) }),
      withCode(ErrorCode.BAD_REQUEST),
    );
    await store.appendLogs([line('i', 'one'), line('i', 'two')]);
    assert.equal((await store.tailLogs({ afterSeq: 1e30 })).length, 0);
    assert.equal((await store.tailLogs({ afterSeq: -1e30 })).length, 2);
    const [first] = await store.tailLogs({ afterSeq: 0 });
    assert.deepEqual(
      (await store.tailLogs({ afterSeq: (first?.seq ?? 0) + 0.5 })).map((l) => l.message),
      ['two'],
    );
  });

  it('refuses data too large for an index with VALIDATION (a record the recorder drops, not retries)', async () => {
    // Random, so compression cannot fit it into a btree entry (at most 2704 bytes).
    const huge = sampleInvocation({ idempotencyKey: randomBytes(6000).toString('base64') });
    await assert.rejects(store.createInvocations([huge]), withCode(ErrorCode.VALIDATION));
    await assert.rejects(store.createInvocation(huge), withCode(ErrorCode.VALIDATION));
    // Answered to a tenant: no word of where the database is.
    await assert.rejects(store.createInvocation(huge), (err: Error) => {
      const text = JSON.stringify((err as { toJSON?: () => unknown }).toJSON?.() ?? err);
      assert.doesNotMatch(text, /postgres:\/\//);
      return true;
    });
  });

  it('two processes deploying routes of one shape at once: one wins, the other gets ROUTE_CONFLICT', async () => {
    for (let round = 0; round < 5; round++) {
      const results = await Promise.allSettled([
        store.createFunction(
          sampleVersion(`a${round}`, { routes: [{ method: 'GET', path: `/r${round}/:id` }] }),
        ),
        peer.createFunction(
          sampleVersion(`b${round}`, { routes: [{ method: 'GET', path: `/r${round}/:uid` }] }),
        ),
      ]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, `round ${round}`);
      const lost = results.find((r) => r.status === 'rejected');
      assert.ok(lost && withCode(ErrorCode.ROUTE_CONFLICT)(lost.reason), String(lost?.reason));
    }
    assert.equal((await store.listRoutes()).length, 5);
  });

  it('two processes creating one API key hash at once: one CONFLICT', async () => {
    const key = (id: string) => ({
      id,
      name: id,
      role: 'admin' as const,
      project: 'default',
      prefix: 'faas_x',
      hash: 'same-hash',
      createdAt: new Date().toISOString(),
    });
    const results = await Promise.allSettled([store.createApiKey(key('k1')), peer.createApiKey(key('k2'))]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    assert.equal(await store.countApiKeys(), 1);
  });

  it('a follower of tailLogs misses no line that commits after a later-numbered one', async () => {
    // A writer that took its seq numbers but has not committed yet (a slow transaction).
    const slow = new pg.Client({ connectionString: db.url });
    await slow.connect();
    try {
      await slow.query('BEGIN');
      await slow.query(
        `INSERT INTO logs (invocation_id, function_name, ts, level, message) ${logLinesFrom(1)}`,
        logArrays([line('slow', 'first numbered')]),
      );
      let appended = false;
      const fast = store.appendLogs([line('fast', 'second numbered')]).then(() => {
        appended = true;
      });
      // The fast writer has either written (no ordering) or waits behind the slow one.
      await eventually(
        async () =>
          appended ||
          (
            await queryTestDatabase<{ n: string }>(
              db.url,
              "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            )
          )[0]?.n !== '0',
        10_000,
        'the second writer to write or wait',
      );
      const seen = await store.tailLogs({ afterSeq: 0 });
      const lastSeen = seen.at(-1)?.seq ?? 0;
      await slow.query('COMMIT');
      await fast;
      const later = await store.tailLogs({ afterSeq: lastSeen });
      assert.deepEqual(
        [...seen, ...later].map((l) => l.message),
        ['first numbered', 'second numbered'],
      );
    } finally {
      await slow.end();
    }
  });

  it('tells watchers of routesRevision about another process’s deploy, and again after its connection is cut', async () => {
    let calls = 0;
    const stop = store.watchRoutesRevision(() => {
      calls++;
    });
    try {
      await store.watching();
      await peer.createFunction(
        sampleVersion('announced', { routes: [{ method: 'GET', path: '/announced' }] }),
      );
      await eventually(async () => calls >= 1, 10_000, 'the NOTIFY of a deploy');
      // The server ends the listening connection: it listens again and calls the watcher, since
      // changes made in between were not announced.
      const before = calls;
      await queryTestDatabase(
        db.url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'",
      );
      await eventually(async () => calls > before, 15_000, 'the watcher to be called after the reconnect');
      const afterReconnect = calls;
      await store.watching();
      await peer.deleteFunction('announced');
      await eventually(
        async () => calls > afterReconnect,
        10_000,
        'the NOTIFY of a delete after the reconnect',
      );
    } finally {
      stop();
    }
  });
  it('moves routesRevision (and so NOTIFYs every node) when a key is revoked or changed and when a project rate limit changes', async () => {
    const key = {
      id: 'key_moves',
      name: 'moves',
      hash: randomBytes(32).toString('hex'),
      prefix: 'faas_mov',
      role: 'developer',
      project: 'default',
      createdAt: new Date().toISOString(),
    } as const;
    await store.createApiKey(key);
    await store.createProject({ name: 'moves', createdAt: new Date().toISOString() });
    const moves = async (what: string, change: () => Promise<unknown>) => {
      const before = await store.routesRevision();
      await change();
      assert.ok((await peer.routesRevision()) > before, `${what} moves the revision`);
    };
    await moves('a key changed', () => store.updateApiKey(key.id, { name: 'moved' }));
    await moves('a project rate limit set', () =>
      store.setProjectRateLimit('moves', { requestsPerSecond: 1, burst: 1 }),
    );
    await moves('a project rate limit removed', () => store.setProjectRateLimit('moves', undefined));
    await moves('a key revoked', () => store.revokeApiKey(key.id));
    const after = await store.routesRevision();
    assert.equal(await store.revokeApiKey(key.id), false);
    assert.equal(await store.routesRevision(), after, 'revoking a revoked key changes nothing');
  });
});
