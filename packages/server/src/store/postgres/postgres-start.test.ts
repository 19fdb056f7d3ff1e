import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { ErrorCode, isFaasError } from '@faas/core';
import { postgresSkipReason, postgresTestUrl, uniquePostgresName, withDatabase } from '@faas/testkit';
import { openPostgresStore, PostgresStore } from './postgres-store.ts';

const url = postgresTestUrl() ?? 'postgres://unset@127.0.0.1/unset';

/** A port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 1;
}

/** Rejects with a FaasError of `code` whose message names the setting and never the password. */
async function refusedAtOpen(target: string, code: string, reason: RegExp): Promise<void> {
  const password = decodeURIComponent(new URL(target).password);
  await assert.rejects(openPostgresStore({ url: target }), (err: unknown) => {
    assert.ok(isFaasError(err), `expected a FaasError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, /FAAS_DATABASE_URL/);
    assert.match(err.message, reason);
    const body = JSON.stringify(err.toJSON());
    assert.ok(password === '' || !body.includes(`:${password}@`), `the URL leaked: ${body}`);
    if (password.startsWith('hunter2')) assert.ok(!body.includes(password), `the password leaked: ${body}`);
    return true;
  });
}

describe('PostgresStore at start: a clear error for each bad URL', { skip: postgresSkipReason() }, () => {
  it('a server that does not answer is STORAGE_UNAVAILABLE, "unreachable"', async () => {
    const target = new URL(url);
    target.port = String(await closedPort());
    target.password = 'hunter2-closed-port';
    await refusedAtOpen(target.toString(), ErrorCode.STORAGE_UNAVAILABLE, /unreachable.*ECONNREFUSED/);
  });

  it('a wrong password is STORAGE_UNAVAILABLE, with the server’s reason', async () => {
    const target = new URL(url);
    target.password = 'hunter2-wrong';
    await refusedAtOpen(target.toString(), ErrorCode.STORAGE_UNAVAILABLE, /password authentication failed/);
  });

  it('a database that does not exist is STORAGE_UNAVAILABLE, naming it', async () => {
    const missing = uniquePostgresName('faas_missing');
    await refusedAtOpen(
      withDatabase(url, missing),
      ErrorCode.STORAGE_UNAVAILABLE,
      new RegExp(`database "${missing}" does not exist`),
    );
  });

  it('a store that loses its database fails its calls with STORAGE_UNAVAILABLE and reports it in health', async () => {
    const target = new URL(url);
    target.port = String(await closedPort());
    const store = new PostgresStore({ url: target.toString() });
    try {
      assert.deepEqual(await store.health(), { ok: true }, 'nothing failed yet');
      await assert.rejects(store.getFunction('f'), (err: unknown) => {
        assert.ok(isFaasError(err) && err.code === ErrorCode.STORAGE_UNAVAILABLE, String(err));
        return true;
      });
      const health = await store.health();
      assert.equal(health.ok, false);
      assert.equal(!health.ok && health.code, ErrorCode.STORAGE_UNAVAILABLE);
    } finally {
      await store.close();
    }
  });
});
