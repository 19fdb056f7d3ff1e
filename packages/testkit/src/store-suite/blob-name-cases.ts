import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { MetadataStore } from '@faas/core';
import { sampleVersion } from './samples.ts';
import { sampleSnapshot } from './snapshot-cases.ts';

type GetStore = () => MetadataStore;

const sha = (c: string) => c.repeat(64);

export function blobNameCases(getStore: GetStore): void {
  it('names the blobs of every version (code and artifact) and every snapshot, and no other', async () => {
    const store = getStore();
    await store.createFunction(sampleVersion('named', { codeSha256: sha('1'), artifactSha256: sha('2') }));
    await store.addVersion(sampleVersion('named', { codeSha256: sha('3'), artifactSha256: sha('4') }));
    await store.createSnapshot(sampleSnapshot('snap_named', { blobChecksum: sha('5') }));
    const asked = ['1', '2', '3', '4', '5', '6'].map(sha);
    assert.deepEqual([...(await store.blobsNamed(asked))].sort(), asked.slice(0, 5));
    assert.deepEqual(await store.blobsNamed([]), new Set());
  });

  it('stops naming the blobs of a deleted function and a deleted snapshot', async () => {
    const store = getStore();
    await store.createFunction(sampleVersion('gone', { codeSha256: sha('7'), artifactSha256: sha('8') }));
    await store.createFunction(sampleVersion('stays', { codeSha256: sha('7'), artifactSha256: sha('9') }));
    await store.createSnapshot(sampleSnapshot('snap_gone', { blobChecksum: sha('c') }));
    await store.deleteFunction('gone');
    await store.deleteSnapshot('snap_gone');
    const named = await store.blobsNamed(['7', '8', '9', 'c'].map(sha));
    assert.deepEqual([...named].sort(), [sha('7'), sha('9')], 'the code both shared stays named');
  });
}
