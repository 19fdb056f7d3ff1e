import assert from 'node:assert/strict';
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import {
  type ErrorBody,
  ErrorCode,
  type Invocation,
  isFaasError,
  type LogLine,
  loadConfig,
} from '@faas/core';
import { startServer } from '@faas/server';
import { Tmpfs, tmpfsSkipReason } from '@faas/testkit';
import { blobPath } from '../../packages/server/src/blobs/local/blob-paths.ts';
import type { LocalBlobStore } from '../../packages/server/src/blobs/local/local-blob-store.ts';
import { containerStates, engineSkipReason, ownedContainers } from '../support/engine.ts';
import { ADMIN_KEY, request, spawnServer, startTestServer, tempDataDir, waitFor } from '../support/server.ts';

const configFor = (dataDir: string) =>
  loadConfig(
    {},
    { port: 0, host: '127.0.0.1', dataDir, adminKey: ADMIN_KEY, logLevel: 'silent', gatewayThreads: 1 },
  );

/** Writes `path` until the file system has no byte left. */
function fillDisk(path: string): void {
  const fd = openSync(path, 'w');
  try {
    for (const size of [1024 * 1024, 4096, 1]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

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
      // Spares start in the background: their containers are listed once started, not half-made.
      const runtime = first.server.platform.runtimes.all.find((r) => r.kind === 'container') as unknown as {
        settled(): Promise<void>;
      };
      await runtime.settled();
      const containers = ownedContainers(first.dataDir).sort();
      assert.ok(containers.length > 0);
      await assert.rejects(startServer(configFor(first.dataDir)), refusedWith(ErrorCode.DATA_DIR_IN_USE));
      // Before the lock, the second server removed these (the warm container too) as orphans.
      assert.deepEqual(ownedContainers(first.dataDir).sort(), containers);
      const states = containerStates(first.dataDir);
      assert.ok(
        states.every((state) => state === 'running'),
        states.join(),
      );
      const again = await first.api('/api/v1/functions/warm-node/invoke', { method: 'POST' });
      assert.equal(await again.json(), pid, 'the warm container was replaced');
    } finally {
      await first.close();
    }
  });
});

describe('retention', () => {
  it('FAAS_RETENTION_DAYS: the sweeper deletes old finished invocations and their logs, not recent or unfinished ones', async () => {
    const s = await startTestServer({ retentionDays: 7 });
    try {
      const { store } = s.server.platform;
      const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();
      const base = { functionName: 'gone', version: 1, trigger: 'api', attempts: 1 } as const;
      await store.createInvocations([
        { ...base, id: 'inv_old', mode: 'sync', status: 'succeeded', createdAt: daysAgo(8) },
        { ...base, id: 'inv_old_queued', mode: 'async', status: 'queued', createdAt: daysAgo(30) },
      ]);
      await store.appendLogs([
        { invocationId: 'inv_old', functionName: 'gone', ts: 0, level: 'log', message: 'old' },
      ]);
      await s.api('/api/v1/functions', {
        method: 'POST',
        json: { name: 'fresh', runtime: 'js', code: 'export default () => 1' },
      });
      const fresh = (await s.api('/api/v1/functions/fresh/invoke', { method: 'POST' })).headers.get(
        'x-invocation-id',
      );
      await s.server.platform.recorder.flush();
      const swept = await s.server.platform.retention.sweep();
      assert.equal(swept.invocations, 1);
      assert.equal(swept.logLines, 1);
      assert.equal((await s.api('/api/v1/invocations/inv_old')).status, 404);
      assert.equal((await s.api('/api/v1/invocations/inv_old_queued')).status, 200);
      assert.equal((await s.api(`/api/v1/invocations/${fresh}`)).status, 200);
    } finally {
      await s.close();
    }
  });
});

describe('blob collection', () => {
  it('deletes the code of deleted functions and refused deploys once old; every version kept still runs', async () => {
    const s = await startTestServer();
    try {
      const { store, blobs, blobCollector, isolateHosts } = s.server.platform;
      const deploy = (name: string, code: string) =>
        s.api('/api/v1/functions', { method: 'POST', json: { name, runtime: 'js', code } });
      assert.equal((await deploy('kept', 'export default () => "v1"')).status, 201);
      const patched = await s.api('/api/v1/functions/kept', {
        method: 'PATCH',
        json: { code: 'export default () => "v2"' },
      });
      assert.equal(patched.status, 200, await patched.clone().text());
      assert.equal((await deploy('deleted', 'export default () => "bye"')).status, 201);
      const [gone] = (await store.listVersions('deleted', { limit: 1 })).items;
      assert.ok(gone);
      // The deploy's load compiled it, and its host keeps V8's code cache of it.
      const codeCaches = () =>
        isolateHosts.codeCacheDirs.flatMap((dir) =>
          (existsSync(dir) ? readdirSync(dir) : []).map((file) => join(dir, file)),
        );
      await waitFor(
        async () => codeCaches().some((file) => basename(file).startsWith(gone.artifactSha256)) || undefined,
        15_000,
        "the deleted function's code cache",
      );
      assert.equal((await s.api('/api/v1/functions/deleted', { method: 'DELETE' })).status, 204);
      assert.equal(
        (await deploy('refused', 'throw new Error("at load"); export default () => 1')).status,
        422,
      );

      const named = new Set<string>();
      for (const v of (await store.listVersions('kept', { limit: 10 })).items) {
        named.add(v.codeSha256).add(v.artifactSha256);
      }
      assert.equal(named.size, 4);
      // A refused deploy's writes may still be landing: wait for every blob, then age them all.
      const root = (blobs as LocalBlobStore).root;
      const listed = async () => {
        const found: string[] = [];
        for await (const blob of blobs.list()) found.push(blob.sha256);
        return found;
      };
      await waitFor(async () => ((await listed()).length >= 8 ? true : undefined), 15_000, 'eight blobs');
      const dayAgo = new Date(Date.now() - 25 * 3_600_000);
      for (const sha256 of await listed()) utimesSync(blobPath(root, sha256), dayAgo, dayAgo);
      // A write of the refused deploy's cache may land meanwhile: renamed away, or young below.
      for (const file of codeCaches()) {
        try {
          utimesSync(file, dayAgo, dayAgo);
        } catch {}
      }

      const collected = await blobCollector.collect();
      assert.equal(collected.deleted, collected.listed - named.size);
      assert.deepEqual((await listed()).sort(), [...named].sort());
      const aged = codeCaches()
        .filter(
          (file) =>
            (statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) < Date.now() - 3_600_000,
        )
        .map((file) => basename(file).slice(0, 64));
      assert.ok(collected.codeFolders >= 1, 'no code cache was collected');
      assert.ok(!aged.includes(gone.artifactSha256), "the deleted function's code cache is gone");
      assert.ok(
        aged.every((sha256) => named.has(sha256)),
        `an old code cache nothing names is left: ${aged}`,
      );
      assert.equal(await (await s.api('/api/v1/functions/kept/invoke', { method: 'POST' })).json(), 'v2');
      const v1 = await s.api('/api/v1/functions/kept:1/invoke', { method: 'POST' });
      assert.equal(await v1.json(), 'v1');
    } finally {
      await s.close();
    }
  });
});

describe('storage failures', () => {
  const root = tempDataDir();
  after(() => rmSync(root, { recursive: true, force: true }));
  const skip = tmpfsSkipReason(join(root, 'probe'));

  it('a full disk: writes fail with STORAGE_FULL, /ready says so, sync records wait readable, then land', {
    skip,
  }, async () => {
    const mount = Tmpfs.mount(join(root, 'full'), 32 * 1024 * 1024);
    const server = await startServer({ ...configFor(mount.path), maxPendingRecords: 5, queuePollMs: 50 });
    const api = (path: string, init?: Parameters<typeof request>[2]) => request(server.url, path, init);
    const filler = join(mount.path, 'filler');
    try {
      const created = await api('/api/v1/functions', {
        method: 'POST',
        json: {
          name: 'echo',
          runtime: 'js',
          code: 'export default (e) => { console.log("got", e.n); return e.n; }',
        },
      });
      assert.equal(created.status, 201, await created.clone().text());
      assert.equal(
        await (await api('/api/v1/functions/echo/invoke', { method: 'POST', json: { n: 0 } })).json(),
        0,
      );
      // Empty the WAL so the next write must grow a file, then take every byte left.
      await server.platform.recorder.flush();
      const checkpoint = new DatabaseSync(join(mount.path, 'faas.db'));
      checkpoint.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      checkpoint.close();
      fillDisk(filler);

      const ids: string[] = [];
      for (let n = 1; n <= 5; n++) {
        const res = await api('/api/v1/functions/echo/invoke', { method: 'POST', json: { n } });
        assert.equal(res.status, 200, await res.clone().text());
        ids.push(res.headers.get('x-invocation-id') ?? '');
      }
      await waitFor(async () => (server.platform.recorder.stats().failedWrites > 0 ? true : undefined));
      // Answered with an id: readable although its record cannot be written.
      for (const [i, id] of ids.entries()) {
        const inv = (await (await api(`/api/v1/invocations/${id}`)).json()) as Invocation & {
          logs: LogLine[];
        };
        assert.equal(inv.result, i + 1);
        assert.deepEqual(
          inv.logs.map((l) => l.message),
          [`got ${i + 1}`],
        );
      }
      // Past FAAS_MAX_PENDING_RECORDS: refused before it runs, no id handed out.
      const refused = await api('/api/v1/functions/echo/invoke', { method: 'POST', json: { n: 6 } });
      assert.equal(refused.status, 503);
      assert.equal(((await refused.json()) as ErrorBody).error.code, ErrorCode.RECORDS_BACKLOG);
      assert.equal(refused.headers.get('x-invocation-id'), null);
      assert.equal(refused.headers.get('retry-after'), '1');
      // Writes made in the request fail with the documented code.
      const asyncRes = await api('/api/v1/functions/echo/invoke?async=true', {
        method: 'POST',
        json: { n: 7 },
      });
      assert.equal(asyncRes.status, 507, await asyncRes.clone().text());
      assert.equal(((await asyncRes.json()) as ErrorBody).error.code, ErrorCode.STORAGE_FULL);
      const deploy = await api('/api/v1/functions', {
        method: 'POST',
        json: {
          name: 'no-room',
          runtime: 'js',
          code: `export default () => ${JSON.stringify('x'.repeat(200_000))}`,
        },
      });
      assert.equal(deploy.status, 507, await deploy.clone().text());
      // Anyone sees each check's state and code; an admin's key, the reasons too.
      const anonymous = await api('/ready', { key: null });
      assert.equal(anonymous.status, 503);
      const shown = ((await anonymous.json()) as { checks: Record<string, string> }).checks;
      assert.equal(shown.store, 'failing (FAAS_ERR_STORAGE_FULL)');
      assert.match(shown.records ?? '', /^failing \(FAAS_ERR_[A-Z_]+\)$/);
      const ready = await api('/ready');
      assert.equal(ready.status, 503);
      const { checks } = (await ready.json()) as { checks: Record<string, string> };
      assert.match(checks.store ?? '', /FAAS_ERR_STORAGE_FULL/);
      assert.match(checks.records ?? '', /5 invocation record\(s\) wait to be written/);

      rmSync(filler);
      await waitFor(async () => (server.platform.recorder.stats().pending === 0 ? true : undefined), 20_000);
      const listed = (await (await api('/api/v1/invocations?functionName=echo&limit=50')).json()) as {
        items: Invocation[];
      };
      for (const id of ids)
        assert.ok(
          listed.items.some((inv) => inv.id === id),
          `${id} was not written`,
        );
      assert.deepEqual(
        (await server.platform.store.getLogs(ids[0] ?? '')).map((l) => l.message),
        ['got 1'],
      );
      const again = await api('/api/v1/functions/echo/invoke', { method: 'POST', json: { n: 8 } });
      assert.equal(again.status, 200);
      const queued = await api('/api/v1/functions/echo/invoke?async=true', {
        method: 'POST',
        json: { n: 9 },
      });
      assert.equal(queued.status, 202);
    } finally {
      rmSync(filler, { force: true });
      await server.close();
      mount.unmount();
    }
  });

  it('a server refuses to start on a disk that is already full, with STORAGE_FULL', { skip }, async () => {
    // SQLite's WAL needs room for its shared-memory index to open the database at all.
    const mount = Tmpfs.mount(join(root, 'full-at-start'), 16 * 1024 * 1024);
    const filler = join(mount.path, 'filler');
    try {
      const first = await startServer(configFor(mount.path));
      await first.close();
      fillDisk(filler);
      await assert.rejects(startServer(configFor(mount.path)), (err: unknown) => {
        assert.ok(refusedWith(ErrorCode.STORAGE_FULL)(err), String(err));
        assert.match((err as Error).message, /disk is full/);
        return true;
      });
      // Once there is room again, it starts.
      rmSync(filler);
      await (await startServer(configFor(mount.path))).close();
    } finally {
      rmSync(filler, { force: true });
      mount.unmount();
    }
  });

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
