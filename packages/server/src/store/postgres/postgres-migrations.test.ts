import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, isFaasError } from '@faas/core';
import {
  createTestDatabase,
  postgresSkipReason,
  postgresTestUrl,
  queryTestDatabase,
  sampleVersion,
} from '@faas/testkit';
import { STORE_MIGRATIONS } from './postgres-migrations.ts';
import { openPostgresStore, PostgresStore } from './postgres-store.ts';

describe('PostgreSQL store migrations', { skip: postgresSkipReason() }, () => {
  let db: { url: string; drop(): Promise<void> };
  before(async () => {
    db = await createTestDatabase(postgresTestUrl() as string);
  });
  after(() => db?.drop());

  it('two stores migrating one empty database at once both succeed, with one schema', async () => {
    const stores = [new PostgresStore({ url: db.url }), new PostgresStore({ url: db.url })];
    try {
      await Promise.all(stores.map((s) => s.migrate()));
      const versions = await queryTestDatabase<{ version: string; name: string }>(
        db.url,
        "SELECT version, name FROM schema_version WHERE component = 'store' ORDER BY version",
      );
      assert.deepEqual(
        versions.map((v) => [Number(v.version), v.name]),
        STORE_MIGRATIONS.map((m) => [m.version, m.name]),
      );
      // Both work on the same tables.
      await stores[0]?.createFunction(sampleVersion('made-by-one'));
      assert.equal((await stores[1]?.getFunction('made-by-one'))?.latestVersion, 1);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('migrating again applies nothing and keeps the data', async () => {
    const store = await openPostgresStore({ url: db.url });
    try {
      await store.setSetting('kept', 'yes');
      await store.migrate();
      assert.equal(await store.getSetting('kept'), 'yes');
      const rows = await queryTestDatabase(db.url, "SELECT 1 FROM schema_version WHERE component = 'store'");
      assert.equal(rows.length, STORE_MIGRATIONS.length);
    } finally {
      await store.close();
    }
  });

  it('the function-names migration (PostgreSQL 006) renames functions of other projects to their stored names, with what is theirs', async () => {
    const old = await createTestDatabase(postgresTestUrl() as string);
    try {
      const first = await openPostgresStore({ url: old.url });
      // As written before function names were per project: team-a's function under its bare name.
      const routes = [{ method: 'GET' as const, path: '/bill' }];
      await first.createFunction(sampleVersion('billing', { project: 'team-a', routes }));
      await first.addVersion(sampleVersion('billing', { project: 'team-a', routes, description: 'v2' }));
      await first.createFunction(sampleVersion('hello'));
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
      await queryTestDatabase(
        old.url,
        "DELETE FROM schema_version WHERE component = 'store' AND name = 'function_names_per_project'",
      );
      const second = await openPostgresStore({ url: old.url });
      try {
        assert.equal(await second.getFunction('billing'), undefined);
        const moved = await second.getFunction('team-a.billing');
        assert.equal(moved?.latestVersion, 2);
        assert.equal(moved?.latest.project, 'team-a');
        assert.deepEqual(
          (await second.listRoutes()).map((r) => r.functionName),
          ['team-a.billing'],
        );
        assert.equal((await second.getInvocation('inv-a'))?.functionName, 'team-a.billing');
        assert.deepEqual(
          (await second.getLogs('inv-a')).map((l) => l.functionName),
          ['team-a.billing'],
        );
        assert.equal((await second.getFunction('hello'))?.name, 'hello');
        assert.equal((await second.getInvocation('inv-d'))?.functionName, 'hello');
      } finally {
        await second.close();
      }
    } finally {
      await old.drop();
    }
  });

  it('told not to migrate, a store on an unmigrated database refuses to open and names `faas migrate`', async () => {
    const empty = await createTestDatabase(postgresTestUrl() as string);
    try {
      await assert.rejects(openPostgresStore({ url: empty.url, migrate: false }), (err: unknown) => {
        assert.ok(isFaasError(err), String(err));
        assert.equal(err.code, ErrorCode.STORAGE_UNAVAILABLE);
        assert.match(
          err.message,
          new RegExp(
            `lacks schema steps ${STORE_MIGRATIONS.map((m) => m.version).join(', ')} this build needs: run \`faas migrate\``,
          ),
        );
        return true;
      });
      await (await openPostgresStore({ url: empty.url })).close();
      await (await openPostgresStore({ url: empty.url, migrate: false })).close();
    } finally {
      await empty.drop();
    }
  });

  it('refuses a database whose schema is newer than this build', async () => {
    const newer = await createTestDatabase(postgresTestUrl() as string);
    try {
      await (await openPostgresStore({ url: newer.url })).close();
      await queryTestDatabase(
        newer.url,
        "INSERT INTO schema_version VALUES ('store', 99, 'future', '2099-01-01T00:00:00.000Z')",
      );
      for (const migrate of [true, false]) {
        await assert.rejects(
          openPostgresStore({ url: newer.url, migrate }),
          (err: unknown) => isFaasError(err) && err.code === ErrorCode.INTERNAL && /newer/.test(err.message),
        );
      }
    } finally {
      await newer.drop();
    }
  });
});
