import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, isFaasError } from '@faas/core';
import { createTestDatabase, postgresSkipReason, postgresTestUrl, queryTestDatabase } from '@faas/testkit';
import { STORE_MIGRATIONS } from '../../packages/server/src/store/postgres/postgres-migrations.ts';
import { startTestServer } from '../support/server.ts';

const FAAS = new URL('../../bin/faas', import.meta.url).pathname;

function faas(args: string[], env: Record<string, string | undefined> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(FAAS, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('faas migrate', { skip: postgresSkipReason() }, () => {
  let db: { url: string; drop(): Promise<void> };
  before(async () => {
    db = await createTestDatabase(postgresTestUrl() as string);
  });
  after(() => db?.drop());

  it('a server told not to migrate refuses an empty database, naming `faas migrate`', async () => {
    await assert.rejects(startTestServer({ databaseUrl: db.url, databaseMigrate: false }), (err: unknown) => {
      assert.ok(isFaasError(err), String(err));
      assert.equal(err.code, ErrorCode.STORAGE_UNAVAILABLE);
      assert.match(err.message, /run `faas migrate`/);
      return true;
    });
  });

  it('two runs at once against the empty database both succeed: one applies, the other finds nothing to do', async () => {
    const runs = await Promise.all([
      faas(['migrate', '--json'], { FAAS_DATABASE_URL: db.url }),
      faas(['migrate', '--json', '--database-url', db.url], { FAAS_DATABASE_URL: undefined }),
    ]);
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    const results = runs.map((r) => JSON.parse(r.stdout) as { applied: number[]; version: number });
    const all = STORE_MIGRATIONS.map((m) => m.version);
    const latest = all.length;
    assert.deepEqual(
      results.map((r) => r.applied).sort((x, y) => x.length - y.length),
      [[], all],
    );
    assert.deepEqual(
      results.map((r) => r.version),
      [latest, latest],
    );
    const rows = await queryTestDatabase(
      db.url,
      "SELECT version FROM schema_version WHERE component = 'store'",
    );
    assert.equal(rows.length, latest);
    const again = await faas(['migrate'], { FAAS_DATABASE_URL: db.url });
    assert.equal(again.code, 0);
    assert.match(again.stdout, new RegExp(`Nothing to apply: the store's schema is at version ${latest}`));
  });

  it('then the server told not to migrate starts', async () => {
    const server = await startTestServer({ databaseUrl: db.url, databaseMigrate: false });
    try {
      assert.equal((await server.api('/api/v1/functions')).status, 200);
    } finally {
      await server.close();
    }
  });

  it('says what is wrong, in its exit code too: no URL (2), a malformed one (2), a wrong password (5)', async () => {
    const none = await faas(['migrate'], { FAAS_DATABASE_URL: undefined });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /FAAS_DATABASE_URL is not set/);
    const malformed = await faas(['migrate', '--database-url', 'mysql://root:hunter2@db/faas']);
    assert.equal(malformed.code, 2);
    assert.match(malformed.stderr, /FAAS_DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/);
    assert.doesNotMatch(malformed.stderr, /hunter2/);
    const wrong = new URL(db.url);
    wrong.password = 'hunter2-wrong';
    const refused = await faas(['migrate', '--json'], { FAAS_DATABASE_URL: wrong.toString() });
    assert.equal(refused.code, 5);
    const body = JSON.parse(refused.stdout) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'FAAS_CLI_UNREACHABLE');
    assert.match(body.error.message, /password authentication failed/);
    assert.doesNotMatch(refused.stdout, /hunter2/);
  });
});
