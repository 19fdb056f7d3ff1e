import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, FaasError, isFaasError } from '@faas/core';
import { FailureMemory } from '../storage/storage-errors.ts';
import { applyMigrations, type Migration } from './migrations.ts';
import { SqliteDatabase } from './sqlite-database.ts';

const root = mkdtempSync(join(tmpdir(), 'faas-sqlite-db-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('SqliteDatabase', () => {
  it('opens in WAL mode with synchronous=NORMAL, the busy timeout and foreign keys, creating the folder', () => {
    const db = new SqliteDatabase(join(root, 'nested', 'dir', 'a.db'), 1234);
    try {
      assert.equal(db.get<{ journal_mode: string }>('PRAGMA journal_mode')?.journal_mode, 'wal');
      assert.equal(db.get<{ synchronous: number }>('PRAGMA synchronous')?.synchronous, 1); // NORMAL
      assert.equal(db.get<{ timeout: number }>('PRAGMA busy_timeout')?.timeout, 1234);
      assert.equal(db.get<{ foreign_keys: number }>('PRAGMA foreign_keys')?.foreign_keys, 1);
    } finally {
      db.close();
    }
  });

  it('with checkpoints on a thread, no commit copies the WAL into the file; the thread does', async () => {
    // 3 MB in 30 commits: past SQLite's 1,000-page automatic checkpoint several times over.
    const fill = (db: SqliteDatabase) => {
      db.exec('CREATE TABLE t (v BLOB)');
      for (let i = 0; i < 30; i++) {
        db.transaction(() => {
          for (let j = 0; j < 25; j++) db.run('INSERT INTO t (v) VALUES (randomblob(4000))');
        });
      }
    };
    const fileBytes = (path: string) => statSync(path).size;

    const off = new SqliteDatabase(join(root, 'checkpoints-off.db'));
    const onThread = new SqliteDatabase(join(root, 'checkpoints-thread.db'));
    try {
      off.disableAutoCheckpoint();
      fill(off);
      assert.ok(
        fileBytes(off.path) < 100_000,
        `a commit checkpointed: ${fileBytes(off.path)} bytes in the file`,
      );

      onThread.checkpointOnThread({ intervalMs: 20, onError: (err) => assert.fail(String(err)) });
      assert.equal(
        onThread.get<{ wal_autocheckpoint: number }>('PRAGMA wal_autocheckpoint')?.wal_autocheckpoint,
        0,
      );
      fill(onThread);
      const deadline = Date.now() + 30_000;
      // The thread says it checkpointed by a message, which may come after the file grew.
      const done = () => fileBytes(onThread.path) >= 3_000_000 && onThread.threadCheckpoints > 0;
      while (!done() && Date.now() < deadline) await sleep(20);
      assert.ok(
        fileBytes(onThread.path) >= 3_000_000,
        `the thread did not checkpoint: ${fileBytes(onThread.path)}`,
      );
      assert.ok(onThread.threadCheckpoints > 0);
      assert.equal(onThread.get<{ n: number }>('SELECT count(*) AS n FROM t')?.n, 750);
    } finally {
      off.close();
      onThread.close();
    }
  });

  it('caches prepared statements by their SQL', () => {
    const db = new SqliteDatabase(':memory:');
    assert.equal(db.statement('SELECT 1'), db.statement('SELECT 1'));
    assert.notEqual(db.statement('SELECT 1'), db.statement('SELECT 2'));
    db.close();
  });

  it('rolls a failed transaction back entirely', () => {
    const db = new SqliteDatabase(':memory:');
    db.exec('CREATE TABLE t (v INTEGER PRIMARY KEY)');
    assert.throws(() =>
      db.transaction(() => {
        db.run('INSERT INTO t VALUES (1)');
        db.run('INSERT INTO t VALUES (1)');
      }),
    );
    assert.equal(db.get<{ n: number }>('SELECT count(*) AS n FROM t')?.n, 0);
    db.transaction(() => db.run('INSERT INTO t VALUES (2)'));
    assert.equal(db.get<{ n: number }>('SELECT count(*) AS n FROM t')?.n, 1);
    db.close();
  });

  it('applies a step numbered below one already applied (a gap filled by a later merge)', () => {
    const db = new SqliteDatabase(':memory:');
    const one: Migration = { version: 1, name: 'one', sql: 'CREATE TABLE a (x INTEGER)' };
    const seven: Migration = { version: 7, name: 'seven', sql: 'CREATE TABLE g (x INTEGER)' };
    const eight: Migration = { version: 8, name: 'eight', sql: 'CREATE TABLE h (x INTEGER)' };
    assert.deepEqual(applyMigrations(db, 'test', [one, eight]), [1, 8]);
    assert.deepEqual(applyMigrations(db, 'test', [one, seven, eight]), [7]);
    assert.deepEqual(applyMigrations(db, 'test', [one, seven, eight]), []);
    assert.ok(db.get("SELECT 1 FROM sqlite_master WHERE name = 'g'"));
    // A schema past this build's last step is still refused.
    assert.throws(() => applyMigrations(db, 'test', [one, seven]), /newer than this build knows \(7\)/);
    db.close();
  });

  it('applies each migration once, in order, per component, and a failing one not at all', () => {
    const db = new SqliteDatabase(':memory:');
    const steps: Migration[] = [
      { version: 1, name: 'one', sql: 'CREATE TABLE a (x INTEGER)' },
      { version: 2, name: 'two', sql: 'CREATE TABLE b (x INTEGER)' },
    ];
    assert.deepEqual(applyMigrations(db, 'test', steps.slice(0, 1)), [1]);
    assert.deepEqual(applyMigrations(db, 'test', steps), [2]);
    assert.deepEqual(applyMigrations(db, 'test', steps), []);
    assert.deepEqual(
      applyMigrations(db, 'other', [{ version: 1, name: 'x', sql: 'CREATE TABLE c (x INTEGER)' }]),
      [1],
    );
    const broken: Migration = {
      version: 3,
      name: 'broken',
      sql: 'CREATE TABLE d (x INTEGER); CREATE TABLE a (x INTEGER)',
    };
    assert.throws(() => applyMigrations(db, 'test', [...steps, broken]));
    assert.equal(
      db.get("SELECT 1 FROM sqlite_master WHERE name = 'd'"),
      undefined,
      'a failed step left a table',
    );
    assert.equal(
      db.get<{ v: number }>("SELECT max(version) AS v FROM schema_version WHERE component = 'test'")?.v,
      2,
    );
    db.close();
  });
});

describe('SqliteDatabase storage failures', () => {
  it('turns a full database into STORAGE_FULL naming the backend, and health reports it', () => {
    const db = new SqliteDatabase(join(root, 'full.db'), 1000, 'store');
    try {
      db.exec('CREATE TABLE t (v TEXT)');
      assert.deepEqual(db.health(), { ok: true });
      // SQLite's own page limit fails a write exactly as a full disk does (SQLITE_FULL).
      const pages = db.get<{ page_count: number }>('PRAGMA page_count')?.page_count ?? 0;
      db.exec(`PRAGMA max_page_count = ${pages + 2}`);
      const write = () => db.transaction(() => db.run('INSERT INTO t VALUES (?)', 'x'.repeat(64 * 1024)));
      assert.throws(write, (err: unknown) => {
        assert.ok(isFaasError(err));
        assert.equal(err.code, ErrorCode.STORAGE_FULL);
        assert.equal(err.status, 507);
        assert.deepEqual((err.details as { backend: string }).backend, 'store');
        return true;
      });
      const health = db.health();
      assert.equal(health.ok, false);
      assert.equal(!health.ok && health.code, ErrorCode.STORAGE_FULL);
      // Nothing half-written: the failed transaction rolled back.
      assert.equal(db.get<{ n: number }>('SELECT count(*) AS n FROM t')?.n, 0);
    } finally {
      db.close();
    }
  });

  it('turns a write to a read-only connection into STORAGE_READ_ONLY, and probeWrite finds it', () => {
    const path = join(root, 'ro.db');
    new SqliteDatabase(path).close();
    const db = new SqliteDatabase(path, 1000, 'queue');
    try {
      db.probeWrite();
      db.exec('PRAGMA query_only = 1');
      assert.throws(
        () => db.probeWrite(),
        (err: unknown) => isFaasError(err) && err.code === ErrorCode.STORAGE_READ_ONLY,
      );
    } finally {
      db.close();
    }
  });

  it('leaves errors of the statement itself (a constraint, bad SQL) as they are', () => {
    const db = new SqliteDatabase(':memory:');
    db.exec('CREATE TABLE t (v INTEGER PRIMARY KEY)');
    db.run('INSERT INTO t VALUES (1)');
    assert.throws(
      () => db.run('INSERT INTO t VALUES (1)'),
      (err: unknown) => !isFaasError(err),
    );
    assert.throws(
      () => db.run('SELECT nonsense FROM nowhere'),
      (err: unknown) => !isFaasError(err),
    );
    assert.deepEqual(db.health(), { ok: true });
    db.close();
  });
});

describe('FailureMemory', () => {
  it('reports the last storage failure for the window, then healthy again', () => {
    let now = 1_000;
    const memory = new FailureMemory(30_000, () => now);
    assert.deepEqual(memory.health(), { ok: true });
    memory.note(new FaasError(ErrorCode.STORAGE_FULL, 'disk full'));
    now += 29_999;
    const failing = memory.health();
    assert.equal(failing.ok, false);
    assert.match(!failing.ok ? failing.reason : '', /disk full/);
    now += 1;
    assert.deepEqual(memory.health(), { ok: true });
  });
});
