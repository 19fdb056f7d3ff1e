import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { MetadataStore } from '@faas/core';
import { sampleSnapshot, sampleVersion } from '@faas/testkit';
import { blobPath } from '../blobs/local/blob-paths.ts';
import { createLocalBlobStore, type LocalBlobStore } from '../blobs/local/local-blob-store.ts';
import { openSqliteStore } from '../store/sqlite/sqlite-store.ts';
import { BlobCollector } from './blob-collector.ts';

const HOUR_MS = 3_600_000;
const root = mkdtempSync(join(tmpdir(), 'faas-blob-collector-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

async function subject() {
  const store = await openSqliteStore({ path: ':memory:' });
  const blobs = await createLocalBlobStore({ root: join(root, `blobs-${++n}`) });
  const put = async (text: string) => (await blobs.put(new TextEncoder().encode(text))).sha256;
  /** Makes the blob look last put `hours` ago. */
  const age = (store: LocalBlobStore, sha256: string, hours: number) => {
    const at = new Date(Date.now() - hours * HOUR_MS);
    utimesSync(blobPath(store.root, sha256), at, at);
  };
  return { store, blobs, put, age };
}

describe('BlobCollector', () => {
  it('deletes the blobs no version or snapshot names once past the grace period, and only those', async () => {
    const { store, blobs, put, age } = await subject();
    const code = await put('the code of a live function');
    const artifact = await put('its built artifact');
    const snapshot = await put('a snapshot');
    const deletedCode = await put('the code of a deleted function');
    const refused = await put('the artifact of a refused deploy');
    const young = await put('written a minute ago, its record not yet');
    await store.createFunction(sampleVersion('live', { codeSha256: code, artifactSha256: artifact }));
    await store.createFunction(sampleVersion('gone', { codeSha256: deletedCode, artifactSha256: artifact }));
    await store.deleteFunction('gone');
    await store.createSnapshot(sampleSnapshot('snap_kept', { blobChecksum: snapshot }));
    for (const sha of [code, artifact, snapshot, deletedCode, refused]) age(blobs, sha, 25);
    age(blobs, young, 1 / 60);

    const result = await new BlobCollector({ store, blobs, graceMs: 24 * HOUR_MS, batchSize: 2 }).collect();

    assert.equal(result.listed, 6);
    assert.equal(result.deleted, 2);
    assert.ok(result.freedBytes > 0);
    for (const kept of [code, artifact, snapshot, young]) assert.equal(await blobs.has(kept), true, kept);
    for (const gone of [deletedCode, refused]) assert.equal(await blobs.has(gone), false, gone);
    await store.close();
  });

  it('keeps bytes put again after they were listed: the deploy that put them is about to name them', async () => {
    const { store, blobs, put, age } = await subject();
    const data = new TextEncoder().encode('deployed, deleted, deployed again a day later');
    const sha = await put('deployed, deleted, deployed again a day later');
    age(blobs, sha, 25);
    // The question comes after the listing; the deploy's put lands between the two, its version
    // not yet recorded, so nothing names the blob yet when asked.
    const asking: Pick<MetadataStore, 'blobsNamed'> = {
      async blobsNamed(sha256s) {
        await blobs.put(data);
        return store.blobsNamed(sha256s);
      },
    };
    const result = await new BlobCollector({ store: asking, blobs, graceMs: 24 * HOUR_MS }).collect();
    assert.deepEqual(result, { listed: 1, deleted: 0, freedBytes: 0, codeFolders: 0 });
    assert.equal(await blobs.has(sha), true);
    await store.close();
  });

  it("on a worker, leaves the shared blob store alone and collects this node's unpacked code", async () => {
    const { store, blobs, put, age } = await subject();
    const unnamed = await put('not collected here');
    age(blobs, unnamed, 48);
    const code = await put('a live function');
    await store.createFunction(sampleVersion('live', { codeSha256: code, artifactSha256: code }));
    const asked: Array<{ named: string[]; before: number }> = [];
    const now = Date.now();
    const result = await new BlobCollector({
      store,
      graceMs: HOUR_MS,
      now: () => now,
      unpackedCode: {
        async collect(named, unpackedBefore) {
          asked.push({ named: [...(await named([code, unnamed]))], before: unpackedBefore });
          return 1;
        },
      },
    }).collect();
    assert.deepEqual(result, { listed: 0, deleted: 0, freedBytes: 0, codeFolders: 1 });
    assert.deepEqual(asked, [{ named: [code], before: now - HOUR_MS }]);
    assert.equal(await blobs.has(unnamed), true);
    await store.close();
  });

  it('with no grace period set (0) keeps every blob', async () => {
    const { store, blobs, put, age } = await subject();
    const sha = await put('unnamed and old');
    age(blobs, sha, 24 * 365);
    const collector = new BlobCollector({ store, blobs, graceMs: 0, firstRunMs: 0 });
    collector.start();
    assert.deepEqual(await collector.collect(), { listed: 0, deleted: 0, freedBytes: 0, codeFolders: 0 });
    await collector.stop();
    assert.equal(await blobs.has(sha), true);
    await store.close();
  });

  it('runs on its own after start, and stop waits for the collection under way', async () => {
    const { store, blobs, put, age } = await subject();
    const sha = await put('collected by the timer');
    age(blobs, sha, 2);
    const logged: string[] = [];
    const collector = new BlobCollector({
      store,
      blobs,
      graceMs: HOUR_MS,
      firstRunMs: 0,
      logger: {
        info: (line: string) => logged.push(line),
        error: (...args: unknown[]) => logged.push(String(args)),
      },
    });
    collector.start();
    for (let i = 0; i < 200 && (await blobs.has(sha)); i++) await new Promise((r) => setTimeout(r, 10));
    await collector.stop();
    assert.equal(await blobs.has(sha), false);
    assert.match(logged.join('\n'), /deleted 1 of 1 that nothing named/);
    await store.close();
  });
});
