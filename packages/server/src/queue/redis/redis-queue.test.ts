import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type ConsumerFactory, ErrorCode, isFaasError, type LeasedJob } from '@faas/core';
import { defineQueueSuite, eventually } from '@faas/testkit';
import { Redis } from 'ioredis';
import { ConcurrencyLimiter } from '../../control/concurrency-limiter.ts';
import { QueueConsumer } from '../../data/queue-consumer.ts';
import { openRedisQueue } from './redis-queue.ts';
import {
  dropQueueKeys,
  hasRedisServer,
  NO_REDIS,
  startPrivateRedis,
  startTcpProxy,
  TEST_REDIS_URL,
} from './test-support.ts';

const CHILD = fileURLToPath(new URL('./redis-queue.test-child.ts', import.meta.url));
/** This file's keys: apart from other test files' and from each run's. */
const FILE_PREFIX = `test:redis-queue:${process.pid}`;
let n = 0;
const freshPrefix = () => `${FILE_PREFIX}:${++n}`;

/** The server's consumer over the queue under test, with its own slots. */
const consume: ConsumerFactory = (queue, options) =>
  new QueueConsumer(queue, { ...options, slots: new ConcurrencyLimiter(0) });

const url = TEST_REDIS_URL;
if (!url) {
  it('RedisQueue', { skip: NO_REDIS }, () => undefined);
} else {
  defineQueueSuite('RedisQueue', async ({ retry }) => {
    const prefix = freshPrefix();
    const open = () => openRedisQueue({ url, prefix, retry });
    const queue = await open();
    return {
      queue,
      consume,
      openPeer: open,
      cleanup: async () => {
        await queue.close();
        await dropQueueKeys(url, prefix);
      },
    };
  });

  it('delivers a job stored before groups were kept (no group field), in the group of jobs without one', async (t) => {
    const prefix = freshPrefix();
    const queue = await openRedisQueue({ url, prefix, retry: { baseDelayMs: 10, maxDelayMs: 10 } });
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    t.after(async () => {
      redis.disconnect();
      await queue.close();
      await dropQueueKeys(url, prefix);
    });
    // Waiting for its time, as an older server left it: no group, no turn yet.
    await queue.enqueue({ id: 'older', payload: 'kept', maxAttempts: 1, runAt: Date.now() + 50 });
    await redis.connect();
    assert.equal(await redis.hdel(`{${prefix}}:job:older`, 'g'), 1);
    await new Promise((resolve) => setTimeout(resolve, 80));
    await queue.enqueue({ id: 'newer', payload: null, maxAttempts: 1, group: 'team-a' });
    await queue.enqueue({ id: 'ungrouped', payload: null, maxAttempts: 1 });
    const jobs = await queue.lease({ limit: 10, visibilityTimeoutMs: 60_000 });
    // Given its turn at this lease, after the two given theirs when enqueued: in the group ''.
    assert.deepEqual(
      jobs.map((j) => [j.id, j.payload]),
      [
        ['newer', null],
        ['ungrouped', null],
        ['older', 'kept'],
      ],
    );
  });

  describe('RedisQueue timings on a fake clock', () => {
    /** A queue whose scripts read the test's clock instead of Redis's: exact timings, no waiting. */
    async function onFakeClock(t: { after(fn: () => Promise<void>): void }) {
      const clock = { now: 1_000_000 };
      const prefix = freshPrefix();
      const queue = await openRedisQueue({
        url: url as string,
        prefix,
        retry: { baseDelayMs: 1_000, maxDelayMs: 60_000 },
        jitterRatio: 0,
        now: () => clock.now,
      });
      t.after(async () => {
        await queue.close();
        await dropQueueKeys(url as string, prefix);
      });
      return { queue, clock };
    }

    it('schedules retries exactly base * 2^(attempt-1), capped, and delivers them when due', async (t) => {
      const { queue, clock } = await onFakeClock(t);
      await queue.enqueue({ id: 'j', payload: null, maxAttempts: 10 });
      const delays: number[] = [];
      for (let attempt = 1; attempt <= 8; attempt++) {
        const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 5_000 });
        assert.equal(job?.attempt, attempt);
        const outcome = await queue.fail('j', job?.leaseToken ?? '', { error: 'e' });
        assert.equal(outcome.outcome, 'retrying');
        const delay = outcome.outcome === 'retrying' ? outcome.runAt - clock.now : -1;
        delays.push(delay);
        assert.equal(await queue.nextDueInMs(), delay);
        clock.now += delay - 1;
        assert.deepEqual(await queue.lease({ limit: 1, visibilityTimeoutMs: 5_000 }), [], 'delivered early');
        clock.now += 1;
      }
      assert.deepEqual(delays, [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
    });

    it('redelivers exactly when a lease expires, and extend moves that moment', async (t) => {
      const { queue, clock } = await onFakeClock(t);
      await queue.enqueue({ id: 'j', payload: null, maxAttempts: 5 });
      const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 10_000 });
      assert.equal(job?.leaseExpiresAt, clock.now + 10_000);
      assert.equal(await queue.start('j', job?.leaseToken ?? ''), true);
      clock.now += 9_999;
      assert.deepEqual(await queue.lease({ limit: 1, visibilityTimeoutMs: 10_000 }), []);
      assert.equal(await queue.extend('j', job?.leaseToken ?? '', 10_000), true);
      clock.now += 9_999;
      assert.deepEqual(await queue.lease({ limit: 1, visibilityTimeoutMs: 10_000 }), []);
      assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 1, deadLettered: 0 });
      clock.now += 1;
      assert.deepEqual(await queue.stats(), { ready: 1, delayed: 0, leased: 0, deadLettered: 0 });
      assert.equal(await queue.nextDueInMs(), 0);
      const [again] = await queue.lease({ limit: 1, visibilityTimeoutMs: 10_000 });
      assert.equal(again?.attempt, 2);
    });

    it('keeps times past 14 digits exact (Lua prints numbers with 14)', async (t) => {
      const { queue, clock } = await onFakeClock(t);
      clock.now = 123_456_789_012_345;
      await queue.enqueue({ id: 'far', payload: null, maxAttempts: 1, runAt: clock.now + 7 });
      assert.equal(await queue.nextDueInMs(), 7);
      clock.now += 7;
      const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 3 });
      assert.equal(job?.leaseExpiresAt, 123_456_789_012_355);
    });
  });

  describe('RedisQueue keys and payloads', () => {
    it('takes ids and payloads of any characters, the key syntax included', async (t) => {
      const prefix = freshPrefix();
      const queue = await openRedisQueue({ url, prefix, retry: { baseDelayMs: 1, maxDelayMs: 1 } });
      t.after(async () => {
        await queue.close();
        await dropQueueKeys(url, prefix);
      });
      const ids = ['a:b', '{faas}:job:x', 'spaces and\nnewline', 'é🚀', '*?[]\\', 'x'.repeat(10_000)];
      for (const [i, id] of ids.entries()) {
        await queue.enqueue({ id, payload: { i, text: id }, maxAttempts: 1 });
      }
      const leased = await queue.lease({ limit: 100, visibilityTimeoutMs: 60_000 });
      assert.deepEqual(
        leased.map((j) => j.id),
        ids,
      );
      assert.deepEqual(
        leased.map((j) => (j.payload as { text: string }).text),
        ids,
      );
      for (const job of leased)
        await queue.fail(job.id, job.leaseToken, { error: `bad ${job.id.slice(0, 5)}` });
      assert.deepEqual((await queue.listDead(100)).map((d) => d.id).reverse(), ids);
      assert.equal(await queue.deleteDead({ deadBefore: Date.now() + 1_000, limit: 100 }), ids.length);
      for (const id of ids) assert.equal(await queue.has(id), false);
    });
  });

  describe('RedisQueue when Redis cannot be reached', () => {
    const retry = { baseDelayMs: 10, maxDelayMs: 10 };

    it('at start: a clear error naming the setting, with the password hidden', async () => {
      const closed = await (async () => {
        const server = createServer();
        server.listen(0, '127.0.0.1');
        await once(server, 'listening');
        const { port } = server.address() as { port: number };
        server.close();
        return port;
      })();
      await assert.rejects(
        openRedisQueue({
          url: `redis://faas:hunter2-secret@127.0.0.1:${closed}/0`,
          retry,
          setting: 'FAAS_QUEUE_URL',
        }),
        (err: unknown) => {
          assert.ok(isFaasError(err), String(err));
          assert.equal(err.code, ErrorCode.STORAGE_UNAVAILABLE);
          assert.match(
            err.message,
            /^FAAS_QUEUE_URL: cannot reach the queue's Redis at redis:\/\/faas:\*\*\*@127\.0\.0\.1:\d+\/0: /,
          );
          assert.ok(!err.message.includes('hunter2'), 'the password is in the message');
          assert.ok(!JSON.stringify(err.details).includes('hunter2'));
          return true;
        },
      );
    });

    it('at start: a server that accepts but never answers fails within the timeout', async (t) => {
      const silent = createServer(() => undefined);
      silent.listen(0, '127.0.0.1');
      await once(silent, 'listening');
      t.after(() => silent.close());
      const { port } = silent.address() as { port: number };
      await assert.rejects(
        openRedisQueue({ url: `redis://127.0.0.1:${port}`, retry, timeoutMs: 300 }),
        /FAAS_QUEUE_URL: cannot reach the queue's Redis at redis:\/\/127\.0\.0\.1:\d+/,
      );
    });

    it('while running: calls fail with STORAGE_UNAVAILABLE, /ready says why, and it recovers', async (t) => {
      const proxy = await startTcpProxy(url);
      const prefix = freshPrefix();
      const queue = await openRedisQueue({ url: proxy.url, prefix, retry, timeoutMs: 1_000 });
      t.after(async () => {
        await queue.close();
        await proxy.close();
        await dropQueueKeys(url, prefix);
      });
      await queue.enqueue({ id: 'before', payload: 1, maxAttempts: 1 });
      await proxy.cut();
      await assert.rejects(queue.enqueue({ id: 'during', payload: 2, maxAttempts: 1 }), (err: unknown) => {
        assert.ok(isFaasError(err), String(err));
        assert.equal(err.code, ErrorCode.STORAGE_UNAVAILABLE);
        assert.match(err.message, /The queue's Redis \(redis:\/\/127\.0\.0\.1:\d+\/?\) failed/);
        return true;
      });
      await assert.rejects(queue.lease({ limit: 1, visibilityTimeoutMs: 1_000 }), /queue's Redis/);
      const down = await queue.health();
      assert.equal(down.ok, false);
      assert.equal(down.ok ? undefined : down.code, ErrorCode.STORAGE_UNAVAILABLE);
      await proxy.restore();
      await eventually(async () => (await queue.health()).ok, 10_000, 'the queue to reconnect');
      const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
      assert.equal(job?.id, 'before');
      assert.equal(await queue.has('during'), false);
    });
  });

  describe('RedisQueue on a Redis of its own', {
    skip: !hasRedisServer() && 'redis-server is not installed here',
  }, () => {
    const retry = { baseDelayMs: 10, maxDelayMs: 10 };

    it('out of memory: writes fail with STORAGE_FULL and /ready names it, reads still work', async (t) => {
      const redis = await startPrivateRedis();
      const queue = await openRedisQueue({ url: redis.url, retry });
      t.after(async () => {
        await queue.close();
        await redis.stop();
      });
      await queue.enqueue({ id: 'kept', payload: 'x', maxAttempts: 1 });
      await redis.command('CONFIG', 'SET', 'maxmemory', '1');
      await assert.rejects(queue.enqueue({ id: 'refused', payload: 'y', maxAttempts: 1 }), (err: unknown) => {
        assert.ok(isFaasError(err), String(err));
        assert.equal(err.code, ErrorCode.STORAGE_FULL);
        assert.match(err.message, /out of memory/);
        return true;
      });
      assert.equal(await queue.has('kept'), true);
      const health = await queue.health();
      assert.equal(health.ok ? undefined : health.code, ErrorCode.STORAGE_FULL);
      await redis.command('CONFIG', 'SET', 'maxmemory', '0');
      assert.deepEqual(await queue.enqueue({ id: 'refused', payload: 'y', maxAttempts: 1 }), {
        duplicate: false,
      });
    });

    it('a Redis killed and restarted keeps its jobs and leases (AOF), and the scripts are sent again', async (t) => {
      const redis = await startPrivateRedis();
      const queue = await openRedisQueue({ url: redis.url, retry, timeoutMs: 1_000 });
      t.after(async () => {
        await queue.close();
        await redis.stop();
      });
      await queue.enqueue({ id: 'durable', payload: { n: 1 }, maxAttempts: 2 });
      await queue.enqueue({ id: 'held', payload: null, maxAttempts: 2 });
      const [held] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
      assert.equal(held?.id, 'durable');
      await redis.kill('SIGKILL');
      await redis.restart();
      await eventually(async () => (await queue.health()).ok, 10_000, 'the queue to reconnect');
      assert.equal(await queue.start('durable', held?.leaseToken ?? ''), true, 'the lease was lost');
      const waiting = await queue.lease({ limit: 5, visibilityTimeoutMs: 60_000 });
      assert.deepEqual(
        waiting.map((j) => [j.id, j.payload]),
        [['held', null]],
      );
      assert.equal(await queue.ack('durable', held?.leaseToken ?? ''), true);
    });
  });

  /** Runs redis-queue.test-child.ts; resolves each JSON line it prints through `next`. */
  function startChild(args: string[]): { child: ChildProcess; next: () => Promise<Record<string, unknown>> } {
    const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    const reader = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
    return {
      child,
      next: async () => {
        const { value, done } = await reader.next();
        if (done) throw new Error(`child ${args[0]} ended without answering`);
        return JSON.parse(value as string);
      },
    };
  }

  describe('RedisQueue across processes', () => {
    const retry = { baseDelayMs: 10, maxDelayMs: 10 };

    it('the started leases of a consumer killed with SIGKILL come back with attempt + 1 after the lease', async (t) => {
      const prefix = freshPrefix();
      const queue = await openRedisQueue({ url, prefix, retry });
      t.after(async () => {
        await queue.close();
        await dropQueueKeys(url, prefix);
      });
      for (const id of ['a', 'b', 'c']) await queue.enqueue({ id, payload: { id }, maxAttempts: 3 });
      const { child, next } = startChild(['lease-and-hang', url, prefix, '400']);
      const { leased } = (await next()) as { leased: LeasedJob[] };
      child.kill('SIGKILL');
      const [, signal] = await once(child, 'exit');
      assert.equal(signal, 'SIGKILL');

      assert.deepEqual(
        leased.map((j) => j.id),
        ['a', 'b'],
      );
      for (const id of ['a', 'b', 'c', 'from-child'])
        assert.equal(await queue.has(id), true, `${id} was lost`);
      const fresh = await queue.lease({ limit: 10, visibilityTimeoutMs: 60_000 });
      assert.deepEqual(fresh.map((j) => [j.id, j.attempt]).sort(), [
        ['c', 1],
        ['from-child', 1],
      ]);
      await eventually(async () => (await queue.nextDueInMs()) === 0, 10_000, 'the dead leases to run out');
      const back = await queue.lease({ limit: 10, visibilityTimeoutMs: 60_000 });
      assert.deepEqual(
        back.map((j) => [j.id, j.attempt, j.payload]),
        [
          ['a', 2, { id: 'a' }],
          ['b', 2, { id: 'b' }],
        ],
      );
      for (const job of leased)
        assert.equal(await queue.ack(job.id, job.leaseToken), false, 'a dead lease still counted');
    });

    it('a consumer process stopped (SIGSTOP) past its lease loses the job to another, and learns it on waking', async (t) => {
      const prefix = freshPrefix();
      const queue = await openRedisQueue({ url, prefix, retry });
      await queue.enqueue({ id: 'stall-me', payload: null, maxAttempts: 3 });
      const { child, next } = startChild(['consume', url, prefix, '300']);
      const ranHere: number[] = [];
      const here = new QueueConsumer(queue, {
        concurrency: 1,
        leaseMs: 300,
        pollMs: 20,
        slots: new ConcurrencyLimiter(0),
        processor: {
          admit: async () => ({ kind: 'run', value: undefined }),
          process: async (job) => {
            ranHere.push(job.attempt);
          },
        },
      });
      t.after(async () => {
        child.kill('SIGKILL');
        await here.stop();
        await queue.close();
        await dropQueueKeys(url, prefix);
      });
      assert.deepEqual(await next(), { started: 'stall-me', attempt: 1 });
      child.kill('SIGSTOP');
      here.start();
      await eventually(async () => !(await queue.has('stall-me')), 10_000, 'the job to run here');
      assert.deepEqual(ranHere, [2]);
      child.kill('SIGCONT');
      const woke = (await next()) as { finished: string; aborted: boolean; owner: boolean };
      assert.equal(woke.finished, 'stall-me');
      assert.equal(woke.owner, false, 'the stopped process still owned the job');
      assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 0, deadLettered: 0 });
    });
  });
}
