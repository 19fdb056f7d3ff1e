import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConsumerFactory, Queue, RetryPolicy } from '@faas/core';
import { type Disposable, freshPerTest, sleep } from '../fresh-subject.ts';
import { consumerCases } from './consumer-cases.ts';
import { deliveryCases } from './delivery-cases.ts';
import { requeueCases } from './requeue-cases.ts';
import { retryCases } from './retry-cases.ts';
import { turnCases } from './turn-cases.ts';

export { MAX_JITTER_RATIO } from './retry-cases.ts';

/** `cleanup` must also work when a case already closed `queue` (the "consumer stopped" case does). */
export interface QueueUnderTest extends Disposable {
  /** Empty, using the retry policy it was asked for. */
  queue: Queue;
  /**
   * Opens a second instance on the same data (another connection, as another process would).
   * Without it, the cases about other consumers are skipped. The suite closes what it opens.
   */
  openPeer?: () => Promise<Queue>;
  /**
   * Makes the consumer this queue is used with (the server's QueueConsumer works over any
   * Queue). Without it, the consumer cases are skipped.
   */
  consume?: ConsumerFactory;
}

/** Makes a fresh, empty queue for each case, with this retry policy. */
export type QueueFactory = (options: { retry: RetryPolicy }) => Promise<QueueUnderTest>;

/** Short delays keep the suite fast; the cap is reached by the third attempt. */
export const QUEUE_SUITE_RETRY: RetryPolicy = { baseDelayMs: 20, maxDelayMs: 50 };

/**
 * The Queue conformance suite: every promise of `Queue`'s doc comments is a case. Backoff is
 * checked through `runAt` and `nextDueInMs`; the only waits are for short delays to pass.
 * Decisions the suite pins down beyond the doc comments: a lease stays its holder's after expiry
 * until another lease replaces it (but `start` needs a live one); a job whose started lease
 * expires on its last attempt is dead-lettered rather than delivered again; jitter may only
 * shorten a backoff, by at most MAX_JITTER_RATIO; a dead job taken back keeps counting attempts
 * from those it used. With a consumer, the suite also runs the
 * exactly-once cases: a concurrency-limited burst, renewal, a stalled holder, waiting without an
 * attempt.
 *
 * @example
 * defineQueueSuite('SqliteQueue', async ({ retry }) => {
 *   const queue = await openSqliteQueue({ path: ':memory:', retry });
 *   return { queue, cleanup: () => queue.close() };
 * });
 */
export function defineQueueSuite(name: string, factory: QueueFactory): void {
  describe(`Queue conformance: ${name}`, () => {
    const subject = freshPerTest(() => factory({ retry: QUEUE_SUITE_RETRY }));
    const queue = () => subject.get().queue;

    describe('delivery and leases', () => deliveryCases(queue));
    describe('turns between groups', () => turnCases(queue));
    describe('retries and dead letters', () => retryCases(queue, QUEUE_SUITE_RETRY));
    describe('dead letters taken back', () => requeueCases(queue));
    describe('consumer: exactly once', () =>
      consumerCases(() => {
        const { queue, consume, openPeer } = subject.get();
        return { queue, consume, openPeer };
      }));

    describe('other consumers', () => {
      it('a job leased by a consumer that stopped comes back to another one', async (t) => {
        const { openPeer } = subject.get();
        if (!openPeer) return t.skip('the factory gives no openPeer');
        await queue().enqueue({ id: 'orphan', payload: { keep: 'me' }, maxAttempts: 3 });
        // Started under a long lease, then cut short: a short first lease could run out before
        // the start on a busy machine.
        const [held] = await queue().lease({ limit: 1, visibilityTimeoutMs: 60_000 });
        assert.ok(held);
        assert.equal(await queue().start('orphan', held.leaseToken), true);
        assert.equal(await queue().extend('orphan', held.leaseToken, 1), true);
        await queue().close();
        const peer = await openPeer();
        try {
          await sleep(30);
          const [job] = await peer.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
          assert.equal(job?.id, 'orphan');
          assert.equal(job?.attempt, 2);
          assert.deepEqual(job?.payload, { keep: 'me' });
          assert.equal(await peer.ack('orphan', job?.leaseToken ?? ''), true);
        } finally {
          await peer.close();
        }
      });

      it('two instances leasing at once never get the same job', async (t) => {
        const { openPeer } = subject.get();
        if (!openPeer) return t.skip('the factory gives no openPeer');
        const peer = await openPeer();
        try {
          const ids = Array.from({ length: 80 }, (_, i) => `p${String(i).padStart(2, '0')}`);
          for (const id of ids)
            await (ids.indexOf(id) % 2 ? peer : queue()).enqueue({ id, payload: id, maxAttempts: 1 });
          const consumers = [queue(), peer, queue(), peer, queue(), peer];
          const leased: string[] = [];
          await Promise.all(
            consumers.map(async (consumer) => {
              for (;;) {
                const jobs = await consumer.lease({ limit: 3, visibilityTimeoutMs: 60_000 });
                if (jobs.length === 0) return;
                for (const job of jobs) leased.push(job.id);
              }
            }),
          );
          assert.equal(new Set(leased).size, leased.length, 'a job was leased twice');
          assert.deepEqual([...leased].sort(), ids);
          assert.equal((await peer.stats()).leased, ids.length);
        } finally {
          await peer.close();
        }
      });
    });
  });
}
