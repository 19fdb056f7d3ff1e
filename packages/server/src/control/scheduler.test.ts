import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { ErrorCode, FaasError, type FunctionRecord } from '@faas/core';
import { Scheduler } from './scheduler.ts';

const START = Date.parse('2030-01-01T00:00:00.000Z');

/** A scheduler over one function with every-second schedules; `invoke` answers each tick. */
function everySecond(invoke: (key: string) => Promise<unknown>, schedules = ['* * * * * *']) {
  const calls: string[] = [];
  const errors: string[] = [];
  const fn = {
    name: 'team.f',
    latest: { name: 'team.f', project: 'team', schedules, createdAt: new Date(START).toISOString() },
  } as unknown as FunctionRecord;
  const scheduler = new Scheduler({
    store: { listFunctions: async () => ({ items: [fn] }), routesRevision: async () => 1 },
    invocations: {
      invokeAsync: async (_name, _ref, _event, _trigger, key) => {
        calls.push(key as string);
        return invoke(key as string) as never;
      },
    },
    missed: 'skip',
    catchUpMs: 30 * 86_400_000,
    logger: { warn() {}, error: (message) => errors.push(message) },
    now: () => Date.now(),
  });
  return { scheduler, calls, errors };
}

/** Moves the mocked clock on a second at a time, letting each round's promises settle. */
async function advance(seconds: number): Promise<void> {
  for (let s = 0; s < seconds; s++) {
    mock.timers.tick(1000);
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  }
}

const tickKey = (secondsAfterStart: number) =>
  `schedule:* * * * * *@${new Date(START + secondsAfterStart * 1000).toISOString()}`;

function countOf(calls: string[], key: string): number {
  return calls.filter((k) => k === key).length;
}

describe('Scheduler', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: START }));
  afterEach(() => mock.timers.reset());

  it('takes a tick whose key is already claimed for another request as final, not a failure to retry', async () => {
    // Another request holds the tick's key: trying again can only be refused again.
    const { scheduler, calls } = everySecond(async () => {
      throw new FaasError(ErrorCode.IDEMPOTENCY_KEY_REUSED, 'reused');
    });
    await scheduler.start(3_600_000);
    await advance(10);
    await scheduler.stop();
    assert.equal(countOf(calls, tickKey(1)), 1, `tick 1 was fired ${countOf(calls, tickKey(1))} times`);
    assert.equal(new Set(calls).size, calls.length, 'each tick is fired once');
  });

  it('tries a tick the store could not take again with backoff, and a bounded number at a time', async () => {
    let down = true;
    // Three schedules, each a tick a second: more ticks wait than one round fires.
    const { scheduler, calls, errors } = everySecond(async () => {
      if (down) throw new FaasError(ErrorCode.STORAGE_UNAVAILABLE, 'store down');
      return { invocation: { id: 'inv_1' }, duplicate: false };
    }, ['* * * * * *', '*/1 * * * * *', '0-59 * * * * *']);
    await scheduler.start(3_600_000);
    await advance(120);
    // A new tick every second, but the first one's retries spread out: 1, 2, 4, ... s apart.
    const firstTries = countOf(calls, tickKey(1));
    assert.ok(firstTries >= 3 && firstTries <= 10, `tick 1 was tried ${firstTries} times in 120 s`);
    assert.ok(errors.length <= 15, `${errors.length} error lines in 120 s`);
    // The store is back: the ticks waiting are fired a bounded number a round.
    down = false;
    const perSecond: number[] = [];
    for (let s = 0; s < 30; s++) {
      const before = calls.length;
      await advance(1);
      perSecond.push(calls.length - before);
    }
    assert.ok(
      Math.max(...perSecond) <= 100 + 3,
      `calls a second after the store came back: ${perSecond.join(' ')}`,
    );
    assert.ok(
      perSecond.reduce((a, b) => a + b) >= 3 * 60 + 30 * 3,
      `every schedule's 60 latest waiting ticks ran: ${perSecond.join(' ')}`,
    );
    await scheduler.stop();
  });
});
