import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Queue } from '@faas/core';
import { sleep } from '../fresh-subject.ts';

type GetQueue = () => Queue;

const LONG = 60_000;

async function enqueueAll(queue: Queue, group: string, ids: string[]): Promise<void> {
  for (const id of ids) await queue.enqueue({ id, payload: id, maxAttempts: 3, group });
}

async function leaseIds(queue: Queue, limit: number): Promise<string[]> {
  return (await queue.lease({ limit, visibilityTimeoutMs: LONG })).map((j) => j.id);
}

/** Groups take turns: one group's backlog does not hold another group's jobs back. */
export function turnCases(getQueue: GetQueue): void {
  it("groups take turns: one group's backlog does not hold another's next job back", async () => {
    const queue = getQueue();
    await enqueueAll(queue, 'team-a', ['a1', 'a2', 'a3', 'a4', 'a5', 'a6']);
    await enqueueAll(queue, 'team-b', ['b1']);
    await enqueueAll(queue, 'team-c', ['c1', 'c2']);
    assert.deepEqual(await leaseIds(queue, 3), ['a1', 'b1', 'c1']);
    assert.deepEqual(await leaseIds(queue, 10), ['a2', 'c2', 'a3', 'a4', 'a5', 'a6']);
  });

  it('a group with nothing due joins the rotation where it stands, not ahead by the turns it did not use', async () => {
    const queue = getQueue();
    await enqueueAll(queue, 'team-a', ['a1', 'a2', 'a3', 'a4']);
    assert.deepEqual(await leaseIds(queue, 2), ['a1', 'a2']);
    await enqueueAll(queue, 'team-b', ['b1', 'b2', 'b3', 'b4']);
    assert.deepEqual(await leaseIds(queue, 10), ['b1', 'a3', 'b2', 'a4', 'b3', 'b4']);
    // team-b just had the turn last leased; team-a, idle since, joins at it and goes first.
    await enqueueAll(queue, 'team-b', ['b5', 'b6']);
    await enqueueAll(queue, 'team-a', ['a5']);
    assert.deepEqual(await leaseIds(queue, 10), ['a5', 'b5', 'b6']);
  });

  it("a job handed back takes its group's next turn, behind the group's due jobs", async () => {
    const queue = getQueue();
    await enqueueAll(queue, 'team-a', ['a1', 'a2', 'a3']);
    await enqueueAll(queue, 'team-b', ['b1', 'b2']);
    const [a1] = await queue.lease({ limit: 1, visibilityTimeoutMs: LONG });
    assert.equal(a1?.id, 'a1');
    assert.equal(await queue.release('a1', a1.leaseToken), true);
    assert.deepEqual(await leaseIds(queue, 10), ['b1', 'a2', 'b2', 'a3', 'a1']);
  });

  it('a lease that ran out and was given a turn is held again once its holder renews it', async () => {
    const queue = getQueue();
    await enqueueAll(queue, 'team-a', ['x']);
    const [held] = await queue.lease({ limit: 1, visibilityTimeoutMs: 30 });
    assert.equal(held?.id, 'x');
    await enqueueAll(queue, 'team-b', ['y']);
    await sleep(60);
    // The expired lease gets a turn behind y's, and y is leased.
    assert.deepEqual(await leaseIds(queue, 1), ['y']);
    assert.equal(await queue.extend('x', held.leaseToken, LONG), true, 'still the holder’s');
    await enqueueAll(queue, 'team-c', ['z']);
    assert.deepEqual(await leaseIds(queue, 10), ['z'], 'renewed, x is not delivered again');
    assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 3, deadLettered: 0 });
    assert.equal(await queue.oldestDueAgeMs(), undefined);
  });

  it('a lease that ran out gets its turn at the next lease, not at an enqueue', async () => {
    const queue = getQueue();
    await enqueueAll(queue, 'team-a', ['x']);
    const [held] = await queue.lease({ limit: 1, visibilityTimeoutMs: 30 });
    assert.equal(held?.id, 'x');
    await sleep(60);
    await enqueueAll(queue, 'team-a', ['y']);
    const [y, x] = await queue.lease({ limit: 10, visibilityTimeoutMs: LONG });
    assert.deepEqual([y?.id, x?.id, x?.attempt], ['y', 'x', 1]);
  });

  it('jobs with a turn count as ready and due', async () => {
    const queue = getQueue();
    await enqueueAll(queue, 'team-a', ['a1', 'a2']);
    await sleep(20);
    assert.deepEqual(await leaseIds(queue, 1), ['a1']);
    assert.deepEqual(await queue.stats(), { ready: 1, delayed: 0, leased: 1, deadLettered: 0 });
    assert.equal(await queue.nextDueInMs(), 0);
    const age = await queue.oldestDueAgeMs();
    assert.ok(age !== undefined && age >= 15, `oldestDueAgeMs was ${age}`);
  });
}
