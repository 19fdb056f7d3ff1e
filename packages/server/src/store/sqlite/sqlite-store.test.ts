import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { ErrorCode } from '@faas/core';
import { defineStoreSuite } from '@faas/testkit';
import { openSqliteQueue } from '../../queue/sqlite/sqlite-queue.ts';
import { openSqliteStore } from './sqlite-store.ts';

const root = mkdtempSync(join(tmpdir(), 'faas-sqlite-store-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(root, `store-${++n}`, 'faas.db');

defineStoreSuite('SqliteStore (file)', async () => {
  const path = freshPath();
  const store = await openSqliteStore({ path });
  return {
    store,
    openPeer: () => openSqliteStore({ path }),
    cleanup: async () => {
      await store.close();
      rmSync(join(path, '..'), { recursive: true, force: true });
    },
  };
});

defineStoreSuite('SqliteStore (:memory:)', async () => {
  const store = await openSqliteStore({ path: ':memory:' });
  return { store, cleanup: () => store.close() };
});

describe('SqliteStore on disk', () => {
  it('leaves a WAL-mode file with its schema version recorded', async () => {
    const path = freshPath();
    const store = await openSqliteStore({ path });
    await store.close();
    const db = new DatabaseSync(path);
    try {
      assert.equal(db.prepare('PRAGMA journal_mode').get()?.journal_mode, 'wal');
      const versions = db.prepare("SELECT version, name FROM schema_version WHERE component = 'store'").all();
      assert.deepEqual(
        versions.map((v) => ({ ...v })),
        [
          { version: 1, name: 'init' },
          { version: 2, name: 'snapshots' },
          { version: 3, name: 'status_index_without_successes' },
          { version: 4, name: 'idempotency_hash' },
          { version: 5, name: 'route_shape' },
          { version: 6, name: 'projects' },
          { version: 7, name: 'audit' },
          { version: 8, name: 'cold_start' },
          { version: 9, name: 'invocation_trace_id' },
          { version: 10, name: 'secrets' },
          { version: 11, name: 'function_names_per_project' },
          { version: 12, name: 'project_hosts' },
          { version: 13, name: 'project_quotas' },
          { version: 14, name: 'api_key_rate_limit' },
          { version: 15, name: 'project_rate_limit' },
          { version: 16, name: 'project_cors' },
          { version: 17, name: 'unfinished_per_project' },
          { version: 18, name: 'blob_names' },
        ],
      );
    } finally {
      db.close();
    }
  });

  it('fills in the shape of routes written before migration 5, so their conflicts are found', async () => {
    const path = freshPath();
    const first = await openSqliteStore({ path });
    const fn = {
      runtime: 'js' as const,
      handler: 'index.default',
      env: {},
      timeoutMs: 1000,
      memoryMb: 64,
      maxConcurrency: 1,
      maxRetries: 0,
      description: '',
      codeSha256: 'a'.repeat(64),
      codeSizeBytes: 1,
      artifactSha256: 'a'.repeat(64),
    };
    await first.createFunction({ ...fn, name: 'old', routes: [{ method: 'GET', path: '/users/:id' }] });
    await first.close();
    // As a database from before the column: the shape unknown.
    const db = new DatabaseSync(path);
    db.exec('UPDATE routes SET shape = NULL');
    db.close();
    const second = await openSqliteStore({ path });
    try {
      await assert.rejects(
        second.createFunction({ ...fn, name: 'new', routes: [{ method: 'GET', path: '/users/:uid' }] }),
        (err: { code?: string }) => err.code === ErrorCode.ROUTE_CONFLICT,
      );
    } finally {
      await second.close();
    }
  });

  it('the function-names migration (SQLite 010) renames functions of other projects to their stored names, with what is theirs', async () => {
    const path = freshPath();
    const first = await openSqliteStore({ path });
    const fn = {
      runtime: 'js' as const,
      handler: 'index.default',
      env: {},
      timeoutMs: 1000,
      memoryMb: 64,
      maxConcurrency: 1,
      maxRetries: 0,
      description: '',
      codeSha256: 'a'.repeat(64),
      codeSizeBytes: 1,
      artifactSha256: 'a'.repeat(64),
    };
    await first.createProject({ name: 'team-a', createdAt: new Date().toISOString() });
    // As written before function names were per project: team-a's function under its bare name.
    await first.createFunction({
      ...fn,
      name: 'billing',
      project: 'team-a',
      routes: [{ method: 'GET', path: '/bill' }],
    });
    await first.addVersion({
      ...fn,
      name: 'billing',
      project: 'team-a',
      routes: [{ method: 'GET', path: '/bill' }],
      description: 'v2',
    });
    await first.createFunction({ ...fn, name: 'hello', routes: [] });
    const invocation = (id: string, functionName: string, project: string) => ({
      id,
      functionName,
      project,
      version: 1,
      mode: 'sync' as const,
      trigger: 'api' as const,
      status: 'succeeded' as const,
      attempts: 1,
      createdAt: new Date().toISOString(),
    });
    await first.createInvocations(
      [invocation('inv-a', 'billing', 'team-a'), invocation('inv-d', 'hello', 'default')],
      [
        { invocationId: 'inv-a', functionName: 'billing', ts: 1, level: 'info', message: 'a' },
        { invocationId: 'inv-d', functionName: 'hello', ts: 1, level: 'info', message: 'd' },
      ],
    );
    await first.close();
    const db = new DatabaseSync(path);
    db.exec("DELETE FROM schema_version WHERE component = 'store' AND name = 'function_names_per_project'");
    db.close();
    const second = await openSqliteStore({ path });
    try {
      assert.equal(await second.getFunction('billing'), undefined);
      const moved = await second.getFunction('team-a.billing');
      assert.equal(moved?.latestVersion, 2);
      assert.equal(moved?.latest.project, 'team-a');
      assert.equal((await second.getVersion('team-a.billing', 1))?.version, 1);
      assert.deepEqual(
        (await second.listRoutes()).map((r) => r.functionName),
        ['team-a.billing'],
      );
      assert.equal((await second.getInvocation('inv-a'))?.functionName, 'team-a.billing');
      assert.deepEqual(
        (await second.getLogs('inv-a')).map((l) => l.functionName),
        ['team-a.billing'],
      );
      // The default project's names are what they were.
      assert.equal((await second.getFunction('hello'))?.name, 'hello');
      assert.equal((await second.getInvocation('inv-d'))?.functionName, 'hello');
      assert.deepEqual(
        (await second.getLogs('inv-d')).map((l) => l.functionName),
        ['hello'],
      );
    } finally {
      await second.close();
    }
  });

  it('keeps everything across a reopen, and migrating again applies nothing twice', async () => {
    const path = freshPath();
    const first = await openSqliteStore({ path });
    await first.createFunction({
      name: 'persisted',
      runtime: 'js',
      handler: 'index.default',
      env: {},
      timeoutMs: 1000,
      memoryMb: 64,
      maxConcurrency: 1,
      maxRetries: 0,
      routes: [{ method: 'GET', path: '/p' }],
      description: '',
      codeSha256: 'a'.repeat(64),
      codeSizeBytes: 1,
      artifactSha256: 'a'.repeat(64),
    });
    await first.setSetting('k', 'v');
    const revision = await first.routesRevision();
    await first.close();
    const second = await openSqliteStore({ path });
    try {
      assert.equal((await second.getFunction('persisted'))?.latestVersion, 1);
      assert.equal(await second.getSetting('k'), 'v');
      assert.equal(await second.routesRevision(), revision);
      await second.migrate();
    } finally {
      await second.close();
    }
  });

  it('refuses a file whose schema is newer than this build', async () => {
    const path = freshPath();
    await (await openSqliteStore({ path })).close();
    const db = new DatabaseSync(path);
    db.prepare("INSERT INTO schema_version VALUES ('store', 99, 'future', '2099-01-01')").run();
    db.close();
    await assert.rejects(
      openSqliteStore({ path }),
      (err: { code?: string }) => err.code === ErrorCode.INTERNAL,
    );
  });

  it('shares one file with the queue, each with its own schema numbering', async () => {
    const path = freshPath();
    const store = await openSqliteStore({ path });
    const queue = await openSqliteQueue({ path, retry: { baseDelayMs: 10, maxDelayMs: 10 } });
    try {
      await queue.enqueue({ id: 'job', payload: 1, maxAttempts: 1 });
      await store.setSetting('x', 'y');
      assert.equal(await queue.has('job'), true);
      assert.equal(await store.getSetting('x'), 'y');
      const db = new DatabaseSync(path);
      const components = db.prepare('SELECT DISTINCT component FROM schema_version ORDER BY component').all();
      db.close();
      assert.deepEqual(
        components.map((c) => c.component),
        ['queue', 'store'],
      );
    } finally {
      await queue.close();
      await store.close();
    }
  });
});
