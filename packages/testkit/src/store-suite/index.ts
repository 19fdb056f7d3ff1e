import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MetadataStore } from '@faas/core';
import { type Disposable, freshPerTest } from '../fresh-subject.ts';
import { attemptCases } from './attempt-cases.ts';
import { auditCases } from './audit-cases.ts';
import { blobNameCases } from './blob-name-cases.ts';
import { functionCases } from './function-cases.ts';
import { invocationCases } from './invocation-cases.ts';
import { keyCases, logCases } from './log-key-cases.ts';
import { pagingCases } from './paging-cases.ts';
import { projectCases } from './project-cases.ts';
import { retentionCases } from './retention-cases.ts';
import { sampleInvocation, sampleVersion } from './samples.ts';
import { secretCases } from './secret-cases.ts';
import { snapshotCases } from './snapshot-cases.ts';
import { statsCases } from './stats-cases.ts';

export interface StoreUnderTest extends Disposable {
  /** Migrated and empty. */
  store: MetadataStore;
  /**
   * Opens a second instance on the same data (another connection, as another process would).
   * Without it, the cases about other processes are skipped. The suite closes what it opens.
   */
  openPeer?: () => Promise<MetadataStore>;
}

/** Makes a fresh, empty store for each case. */
export type StoreFactory = () => Promise<StoreUnderTest>;

/**
 * The MetadataStore conformance suite: every promise of `MetadataStore`'s doc comments is a case.
 * An implementation is done when it passes unchanged.
 *
 * @example
 * defineStoreSuite('SqliteStore', async () => {
 *   const store = await openSqliteStore({ path: ':memory:' });
 *   return { store, cleanup: () => store.close() };
 * });
 */
export function defineStoreSuite(name: string, factory: StoreFactory): void {
  describe(`MetadataStore conformance: ${name}`, () => {
    const subject = freshPerTest(factory);
    const store = () => subject.get().store;

    describe('functions, versions and routes', () => functionCases(store));
    describe('paging', () => pagingCases(store));
    describe('invocations', () => invocationCases(store));
    describe('async attempts (fenced writes)', () => attemptCases(store));
    describe('retention', () => retentionCases(store));
    describe('invocation stats', () => statsCases(store));
    describe('logs', () => logCases(store));
    describe('API keys and settings', () => keyCases(store));
    describe('snapshots', () => snapshotCases(store));
    describe('projects', () => projectCases(store));
    describe('audit', () => auditCases(store));
    describe('secrets', () => secretCases(store));
    describe('the blobs records name', () => blobNameCases(store));

    describe('lifecycle', () => {
      it('migrate is idempotent and keeps the data', async () => {
        await store().createFunction(sampleVersion('kept'));
        await store().migrate();
        await store().migrate();
        assert.equal((await store().getFunction('kept'))?.latestVersion, 1);
      });

      it('ping resolves and health is ok on a live store', async () => {
        await store().ping();
        assert.deepEqual(await store().health(), { ok: true });
      });

      it('another instance on the same data sees writes and routesRevision changes', async (t) => {
        const { openPeer } = subject.get();
        if (!openPeer) return t.skip('the factory gives no openPeer');
        const peer = await openPeer();
        try {
          const before = await peer.routesRevision();
          await store().createFunction(
            sampleVersion('shared', { routes: [{ method: 'GET', path: '/shared' }] }),
          );
          assert.ok((await peer.routesRevision()) > before);
          assert.equal((await peer.getFunction('shared'))?.latestVersion, 1);
          assert.deepEqual(
            (await peer.listRoutes()).map((r) => r.functionName),
            ['shared'],
          );
          const inv = sampleInvocation({ idempotencyKey: 'across' });
          await peer.createInvocation(inv);
          const dup = await store().createInvocation(sampleInvocation({ idempotencyKey: 'across' }));
          assert.equal(dup.created, false);
          assert.equal(dup.invocation.id, inv.id);
        } finally {
          await peer.close();
        }
      });

      it('concurrent addVersion calls with the same expectedLatest: exactly one wins', async (t) => {
        const { openPeer } = subject.get();
        await store().createFunction(sampleVersion('race'));
        const peer = openPeer ? await openPeer() : store();
        try {
          const attempts = [store(), peer, store(), peer].map((s, i) =>
            s.addVersion(sampleVersion('race', { description: `writer ${i}` }), 1),
          );
          const results = await Promise.allSettled(attempts);
          assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
          assert.equal((await store().getFunction('race'))?.latestVersion, 2);
        } finally {
          if (peer !== store()) await peer.close();
        }
        if (!openPeer) t.diagnostic('ran on one instance only: the factory gives no openPeer');
      });
    });
  });
}
