import assert from 'node:assert/strict';
import { it } from 'node:test';
import type {
  ConsumerFactory,
  ConsumerOptions,
  JobConsumer,
  JobProcessor,
  JobSlot,
  LeasedJob,
  Queue,
  QueueStats,
} from '@faas/core';
import { eventually, sleep } from '../fresh-subject.ts';

/** What the consumer cases need of the subject: its queue, a consumer for it, a second instance. */
export interface ConsumerSubject {
  queue: Queue;
  consume: ConsumerFactory | undefined;
  openPeer: (() => Promise<Queue>) | undefined;
}

const EMPTY: QueueStats = { ready: 0, delayed: 0, leased: 0, deadLettered: 0 };

/**
 * A queue whose lease renewals can be held back, as if their holder stalled (its event loop
 * blocked, its process stopped, its connection hung): renewals wait, then reach the queue when
 * the holder resumes.
 */
function stallable(queue: Queue): { queue: Queue; stall(): void; resume(): void } {
  let gate: PromiseWithResolvers<void> | undefined;
  const held = new Set<PropertyKey>(['extend', 'extendMany']);
  const wrapped = new Proxy(queue, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (!held.has(prop)) return value.bind(target);
      return async (...args: unknown[]) => {
        if (gate) await gate.promise;
        return value.apply(target, args);
      };
    },
  });
  return {
    queue: wrapped,
    stall() {
      gate = Promise.withResolvers<void>();
    },
    resume() {
      gate?.resolve();
      gate = undefined;
    },
  };
}

/** The queue, with a count of the jobs handed back to it (`release`). */
function countingReleases(queue: Queue): { queue: Queue; releases(): number } {
  let releases = 0;
  const counted = new Proxy(queue, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (prop !== 'release') return value.bind(target);
      return (...args: unknown[]) => {
        releases++;
        return value.apply(target, args);
      };
    },
  });
  return { queue: counted, releases: () => releases };
}

/** A processor that runs every job, each with `slot` (or the one it gives for the job). */
function processor<T = undefined>(
  process: JobProcessor<T>['process'],
  slot?: JobSlot | ((job: LeasedJob) => JobSlot),
): JobProcessor<T> {
  return {
    admit: async (job) => ({
      kind: 'run',
      ...(slot ? { slots: [typeof slot === 'function' ? slot(job) : slot] } : {}),
      value: undefined as T,
    }),
    process,
  };
}

/** Each job's group's one slot (the group: the id's first letter). */
const groupSlot = (job: LeasedJob): JobSlot => ({ key: job.id.slice(0, 1), limit: 1 });

/**
 * The consumer's promises, run with the consumer the implementation is used with: exactly once
 * with a concurrency limit, renewed leases, a stalled holder that loses its job, and a job that
 * waits for a slot without holding an attempt.
 */
export function consumerCases(get: () => ConsumerSubject): void {
  const consumers: JobConsumer[] = [];
  const consumer = <T>(
    subject: ConsumerSubject,
    queue: Queue,
    options: Omit<ConsumerOptions<T>, 'pollMs'> & { pollMs?: number },
  ): JobConsumer => {
    if (!subject.consume) throw new Error('no consumer');
    const made = subject.consume(queue, { pollMs: 20, ...options });
    consumers.push(made);
    made.start();
    return made;
  };
  const stopAll = () => Promise.all(consumers.splice(0).map((c) => c.stop()));

  it('runs each job exactly once when they wait for one slot far longer than a lease', async (t) => {
    // The reported case: 8 jobs of a function with maxConcurrency 1, ~900 ms each, consumer
    // concurrency 8, one attempt each. Leases are 2 s, far shorter than the 6.3 s the last job
    // waits: only renewal keeps them.
    const subject = get();
    if (!subject.consume) return t.skip('the factory gives no consumer');
    const { queue } = subject;
    const ids = Array.from({ length: 8 }, (_, i) => `job-${i}`);
    for (const [i, id] of ids.entries()) await queue.enqueue({ id, payload: { i }, maxAttempts: 1 });
    const runs: Array<{ id: string; attempt: number }> = [];
    let running = 0;
    let most = 0;
    try {
      consumer(subject, queue, {
        concurrency: 8,
        leaseMs: 2_000,
        processor: processor(
          async (job) => {
            runs.push({ id: job.id, attempt: job.attempt });
            most = Math.max(most, ++running);
            await sleep(900);
            running--;
          },
          { key: 'f', limit: 1 },
        ),
      });
      await eventually(
        async () =>
          runs.length >= ids.length && (await queue.stats()).ready + (await queue.stats()).leased === 0,
        30_000,
        'every job to finish',
      );
    } finally {
      await stopAll();
    }
    assert.deepEqual(runs.map((r) => r.id).sort(), ids, 'a job ran twice or not at all');
    assert.deepEqual(
      runs.map((r) => r.attempt),
      ids.map(() => 1),
    );
    assert.equal(most, 1, 'two jobs of one slot ran at once');
    assert.deepEqual(await queue.listDead(10), []);
    assert.deepEqual(await queue.stats(), EMPTY);
  });

  it('renews the lease of a job that runs many times longer than its lease', async (t) => {
    const subject = get();
    if (!subject.consume) return t.skip('the factory gives no consumer');
    const { queue } = subject;
    await queue.enqueue({ id: 'long', payload: null, maxAttempts: 3 });
    const attempts: number[] = [];
    const other = subject.openPeer ? await subject.openPeer() : queue;
    const stolen: LeasedJob[] = [];
    try {
      consumer(subject, queue, {
        concurrency: 1,
        leaseMs: 200,
        processor: processor(async (job) => {
          attempts.push(job.attempt);
          // Another consumer keeps asking meanwhile: it must never get the running job.
          for (let i = 0; i < 10; i++) {
            await sleep(100);
            stolen.push(...(await other.lease({ limit: 1, visibilityTimeoutMs: 60_000 })));
          }
        }),
      });
      await eventually(async () => !(await queue.has('long')), 10_000, 'the job to finish');
    } finally {
      await stopAll();
      if (other !== queue) await other.close();
    }
    assert.deepEqual(stolen, []);
    assert.deepEqual(attempts, [1]);
  });

  it('a holder stalled past its lease loses the job: it runs again elsewhere and the stalled run records nothing', async (t) => {
    const subject = get();
    if (!subject.consume) return t.skip('the factory gives no consumer');
    const { queue } = subject;
    await queue.enqueue({ id: 'stalled', payload: null, maxAttempts: 3 });
    const a = stallable(queue);
    const recorded: string[] = [];
    let aSignal: AbortSignal | undefined;
    const aBlocked = Promise.withResolvers<void>();
    const other = subject.openPeer ? await subject.openPeer() : queue;
    try {
      consumer(subject, a.queue, {
        concurrency: 1,
        leaseMs: 300,
        processor: processor(async (job, _value, signal) => {
          aSignal = signal;
          await aBlocked.promise;
          // What a processor does: write only while it owns the job.
          if (!signal.aborted) recorded.push(`a:${job.attempt}`);
        }),
      });
      await eventually(async () => aSignal !== undefined, 5_000, 'the first consumer to start the job');
      a.stall();
      await sleep(450);
      consumer(subject, other, {
        concurrency: 1,
        leaseMs: 300,
        processor: processor(async (job) => {
          recorded.push(`b:${job.attempt}`);
        }),
      });
      await eventually(async () => recorded.includes('b:2'), 10_000, 'the second consumer to run the job');
      a.resume();
      await eventually(async () => aSignal?.aborted === true, 5_000, 'the stalled holder to learn it lost');
      aBlocked.resolve();
    } finally {
      a.resume();
      aBlocked.resolve();
      await stopAll();
      if (other !== queue) await other.close();
    }
    assert.deepEqual(recorded, ['b:2']);
    assert.equal(await queue.has('stalled'), false);
    assert.deepEqual(await queue.listDead(10), []);
    assert.deepEqual(await queue.stats(), EMPTY);
  });

  it('a job waiting for a slot holds no attempt: when its holder stalls it comes back as the same attempt', async (t) => {
    const subject = get();
    if (!subject.consume) return t.skip('the factory gives no consumer');
    const { queue } = subject;
    await queue.enqueue({ id: 'running', payload: null, maxAttempts: 1 });
    await queue.enqueue({ id: 'waiting', payload: null, maxAttempts: 1 });
    const a = stallable(queue);
    const started: string[] = [];
    const blocked = Promise.withResolvers<void>();
    const other = subject.openPeer ? await subject.openPeer() : queue;
    try {
      consumer(subject, a.queue, {
        concurrency: 2,
        leaseMs: 300,
        slotWaitMs: 60_000,
        processor: processor(
          async (job) => {
            started.push(job.id);
            await blocked.promise;
          },
          { key: 'one-slot', limit: 1 },
        ),
      });
      await eventually(
        async () => started.length === 1 && (await queue.stats()).leased === 2,
        5_000,
        'both held',
      );
      a.stall();
      await sleep(450);
      const [back, ...rest] = await other.lease({ limit: 5, visibilityTimeoutMs: 60_000 });
      assert.deepEqual(rest, []);
      assert.equal(back?.id, 'waiting');
      assert.equal(back?.attempt, 1, 'waiting for a slot used up an attempt');
      // The running one had started its only attempt: its holder stopped renewing, so it is dead.
      assert.deepEqual(
        (await other.listDead(5)).map((d) => [d.id, d.attempts]),
        [['running', 1]],
      );
      assert.equal(await other.ack('waiting', back?.leaseToken ?? ''), true);
    } finally {
      a.resume();
      blocked.resolve();
      await stopAll();
      if (other !== queue) await other.close();
    }
    assert.deepEqual(started, ['running']);
  });

  it('hands a job back uncounted when its slot stays taken, then runs it as the same attempt', async (t) => {
    const subject = get();
    if (!subject.consume) return t.skip('the factory gives no consumer');
    const { queue } = subject;
    await queue.enqueue({ id: 'first', payload: null, maxAttempts: 1 });
    await queue.enqueue({ id: 'second', payload: null, maxAttempts: 1 });
    const runs: Array<[string, number]> = [];
    try {
      consumer(subject, queue, {
        concurrency: 2,
        leaseMs: 1_000,
        slotWaitMs: 50,
        processor: processor(
          async (job) => {
            runs.push([job.id, job.attempt]);
            await sleep(400);
          },
          { key: 'one-slot', limit: 1 },
        ),
      });
      await eventually(async () => runs.length === 2 && !(await queue.has('second')), 10_000, 'both to run');
    } finally {
      await stopAll();
    }
    assert.deepEqual(runs, [
      ['first', 1],
      ['second', 1],
    ]);
    assert.deepEqual(await queue.listDead(10), []);
  });

  it('a job holds each of its slots while it runs: a slot shared by jobs of other keys keeps them apart', async (t) => {
    const subject = get();
    if (!subject.consume) return t.skip('the factory gives no consumer');
    const { queue } = subject;
    for (const id of ['a1', 'b1', 'a2', 'b2']) await queue.enqueue({ id, payload: null, maxAttempts: 1 });
    const runs: Array<[string, number]> = [];
    let running = 0;
    let most = 0;
    try {
      consumer(subject, queue, {
        concurrency: 4,
        leaseMs: 1_000,
        slotWaitMs: 100,
        processor: {
          // A project's one slot, then each job's own: as a quota and a function's maxConcurrency.
          admit: async (job) => ({
            kind: 'run',
            slots: [
              { key: 'shared', limit: 1 },
              { key: `own-${job.id.slice(0, 1)}`, limit: 2 },
            ],
            value: undefined,
          }),
          process: async (job) => {
            running++;
            most = Math.max(most, running);
            runs.push([job.id, job.attempt]);
            await sleep(150);
            running--;
          },
        },
      });
      await eventually(async () => runs.length === 4, 20_000, 'all four to run');
    } finally {
      await stopAll();
    }
    assert.equal(most, 1, 'two jobs holding the shared slot ran at once');
    assert.deepEqual(
      runs.map(([, attempt]) => attempt),
      [1, 1, 1, 1],
    );
    assert.deepEqual(runs.map(([id]) => id).sort(), ['a1', 'a2', 'b1', 'b2']);
  });

  it("a job waiting for its slot steps aside for another job due: a capped backlog does not fill the consumer's places", async (t) => {
    const subject = get();
    if (!subject.consume) return t.skip('the factory gives no consumer');
    const { queue } = subject;
    // A project at its quota of one with a backlog: a1 runs, a2 and a3 take the other places to wait.
    for (const id of ['a1', 'a2', 'a3', 'a4'])
      await queue.enqueue({ id, payload: null, maxAttempts: 1, group: 'a' });
    const runs: Array<[string, number]> = [];
    const ended = new Map<string, number>();
    try {
      consumer(subject, queue, {
        concurrency: 3,
        leaseMs: 2_000,
        // Each job takes its group's one slot: as a project's quota of one.
        processor: processor(async (job) => {
          runs.push([job.id, job.attempt]);
          await sleep(job.id.startsWith('a') ? 700 : 20);
          ended.set(job.id, Date.now());
        }, groupSlot),
      });
      await eventually(async () => runs.length === 1, 10_000, 'the first job to start');
      for (const id of ['b1', 'b2', 'b3'])
        await queue.enqueue({ id, payload: null, maxAttempts: 1, group: 'b' });
      await eventually(async () => ended.has('b3'), 10_000, "the other group's jobs");
      // Before, a2 and a3 held the consumer's other two places until a1 ended.
      assert.equal(ended.has('a1'), false, "the other group's jobs waited for the first job's end");
      await eventually(async () => ended.size === 7, 20_000, 'every job to end');
    } finally {
      await stopAll();
    }
    assert.deepEqual(runs.map(([id]) => id).sort(), ['a1', 'a2', 'a3', 'a4', 'b1', 'b2', 'b3']);
    assert.deepEqual(
      runs.map(([, attempt]) => attempt),
      [1, 1, 1, 1, 1, 1, 1],
      'a job that stepped aside counted an attempt',
    );
  });

  it('a capped backlog alone is not handed back and leased again in a loop', async (t) => {
    const subject = get();
    if (!subject.consume) return t.skip('the factory gives no consumer');
    const { queue, releases } = countingReleases(subject.queue);
    const ids = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'];
    for (const id of ids) await queue.enqueue({ id, payload: null, maxAttempts: 1, group: 'a' });
    const runs: string[] = [];
    const started = Date.now();
    try {
      consumer(subject, queue, {
        concurrency: 3,
        leaseMs: 2_000,
        pollMs: 200,
        processor: processor(
          async (job) => {
            runs.push(job.id);
            await sleep(300);
          },
          { key: 'a', limit: 1 },
        ),
      });
      await eventually(async () => runs.length === ids.length, 20_000, 'every job to run');
    } finally {
      await stopAll();
    }
    // A waiter steps aside for the backlog's next job at most once a poll, when that one waits too.
    const polls = (Date.now() - started) / 200;
    assert.ok(releases() <= polls + 2, `${releases()} hand-backs in ${polls.toFixed(1)} polls`);
    assert.deepEqual([...runs].sort(), ids);
  });

  it("a capped backlog's own enqueues do not make its waiters step aside; another's still does", async (t) => {
    const subject = get();
    if (!subject.consume) return t.skip('the factory gives no consumer');
    const { queue, releases } = countingReleases(subject.queue);
    await queue.enqueue({ id: 'a01', payload: null, maxAttempts: 1, group: 'a' });
    await queue.enqueue({ id: 'a02', payload: null, maxAttempts: 1, group: 'a' });
    const started: string[] = [];
    const ended = new Map<string, number>();
    let made: JobConsumer | undefined;
    try {
      made = consumer(subject, queue, {
        concurrency: 2,
        leaseMs: 5_000,
        // Each job takes its group's one slot: as a function at maxConcurrency 1.
        processor: processor(async (job) => {
          started.push(job.id);
          await sleep(job.id === 'a01' ? 2_000 : 10);
          ended.set(job.id, Date.now());
        }, groupSlot),
      });
      await eventually(async () => started.length === 1, 10_000, 'the first job to start');
      // The capped function's own async calls, one each 120 ms, each waking the consumer.
      for (let i = 3; i <= 10; i++) {
        await queue.enqueue({
          id: `a${String(i).padStart(2, '0')}`,
          payload: null,
          maxAttempts: 1,
          group: 'a',
        });
        made.wake(['a']);
        await sleep(120);
      }
      // Before, each of them let a waiter step aside: handed back, it lost its place in the
      // slot's line each time.
      assert.ok(releases() <= 2, `${releases()} hand-backs for the capped function's own enqueues`);
      await queue.enqueue({ id: 'b1', payload: null, maxAttempts: 1, group: 'b' });
      made.wake(['b']);
      await eventually(async () => ended.has('b1'), 10_000, "the other function's job");
      assert.equal(ended.has('a01'), false, "the other function's job waited for the capped one's");
      await eventually(async () => ended.size === 11, 30_000, 'every job to end');
    } finally {
      await stopAll();
    }
    assert.deepEqual([...started].sort(), [
      'a01',
      'a02',
      'a03',
      'a04',
      'a05',
      'a06',
      'a07',
      'a08',
      'a09',
      'a10',
      'b1',
    ]);
  });
}
