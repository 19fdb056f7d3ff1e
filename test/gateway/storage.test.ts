import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ErrorCode, isFaasError, loadConfig } from '@faas/core';
import { startServer } from '@faas/server';
import { Tmpfs, tmpfsSkipReason } from '@faas/testkit';
import { containerStates, engineSkipReason, ownedContainers } from '../support/engine.ts';
import { ADMIN_KEY, spawnServer, startTestServer, tempDataDir } from '../support/server.ts';

const configFor = (dataDir: string) =>
  loadConfig(
    {},
    { port: 0, host: '127.0.0.1', dataDir, adminKey: ADMIN_KEY, logLevel: 'silent', gatewayThreads: 1 },
  );

const refusedWith = (code: string) => (err: unknown) => isFaasError(err) && err.code === code;

describe('one server per data dir', () => {
  it('a second server on the same data dir refuses to start; the first keeps serving', async () => {
    const first = await startTestServer();
    try {
      await assert.rejects(startServer(configFor(first.dataDir)), (err: unknown) => {
        assert.ok(refusedWith(ErrorCode.DATA_DIR_IN_USE)(err), String(err));
        assert.match((err as Error).message, new RegExp(`pid ${process.pid}`));
        return true;
      });
      const created = await first.api('/api/v1/functions', {
        method: 'POST',
        json: { name: 'still-here', runtime: 'js', code: 'export default () => "yes"' },
      });
      assert.equal(created.status, 201);
      const res = await first.api('/api/v1/functions/still-here/invoke', { method: 'POST' });
      assert.equal(await res.json(), 'yes');
    } finally {
      await first.close();
    }
  });

  it('a second server process exits with a clear message', async () => {
    const first = await startTestServer();
    try {
      await assert.rejects(
        spawnServer(first.dataDir),
        /server exited with 1[\s\S]*in use by another faas server/,
      );
    } finally {
      await first.close();
    }
  });

  it('leaves the first server’s containers alone', { skip: engineSkipReason() }, async () => {
    const first = await startTestServer();
    try {
      const created = await first.api('/api/v1/functions', {
        method: 'POST',
        json: { name: 'warm-node', runtime: 'node', code: 'export default async () => process.pid' },
      });
      assert.equal(created.status, 201, await created.clone().text());
      const before = await first.api('/api/v1/functions/warm-node/invoke', { method: 'POST' });
      assert.equal(before.status, 200, await before.clone().text());
      const pid = await before.json();
      const containers = ownedContainers(first.dataDir).sort();
      assert.ok(containers.length > 0);
      await assert.rejects(startServer(configFor(first.dataDir)), refusedWith(ErrorCode.DATA_DIR_IN_USE));
      // Before the lock, the second server removed these (the warm container too) as orphans.
      assert.deepEqual(ownedContainers(first.dataDir).sort(), containers);
      assert.ok(containerStates(first.dataDir).every((state) => state === 'running'));
      const again = await first.api('/api/v1/functions/warm-node/invoke', { method: 'POST' });
      assert.equal(await again.json(), pid, 'the warm container was replaced');
    } finally {
      await first.close();
    }
  });
});

describe('storage failures', () => {
  const root = tempDataDir();
  after(() => rmSync(root, { recursive: true, force: true }));
  const skip = tmpfsSkipReason(join(root, 'probe'));

  it('a server refuses to start on a read-only data dir, with a clear error', { skip }, async () => {
    const mount = Tmpfs.mount(join(root, 'ro'), 16 * 1024 * 1024);
    try {
      const once = await startServer(configFor(mount.path));
      await once.close();
      mount.remount({ readOnly: true });
      await assert.rejects(startServer(configFor(mount.path)), (err: unknown) => {
        assert.ok(refusedWith(ErrorCode.STORAGE_READ_ONLY)(err), String(err));
        assert.match((err as Error).message, /read-only/);
        return true;
      });
      await assert.rejects(spawnServer(mount.path), /server exited with 1[\s\S]*read-only/);
    } finally {
      mount.unmount();
    }
  });
});
