import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Turns } from './turns.ts';

describe('Turns', () => {
  it('runs at most max at once, the rest in the order they came, and a failure frees its turn', async () => {
    const turns = new Turns(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const waited: number[] = [];
    const work = (i: number) => async () => {
      started.push(i);
      running += 1;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running -= 1;
      if (i === 1) throw new Error('install failed');
      return i;
    };
    const results = await Promise.allSettled(
      [0, 1, 2, 3, 4].map((i) => turns.run('one', work(i), () => waited.push(i))),
    );
    assert.equal(most, 2);
    assert.deepEqual(started, [0, 1, 2, 3, 4]);
    assert.deepEqual(waited, [2, 3, 4]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled'],
    );
    // Every turn was given back: two run at once again.
    most = 0;
    await Promise.all([5, 6].map((i) => turns.run('one', work(i))));
    assert.equal(most, 2);
  });

  it("takes parties in rotation: one project's queue holds another's work back one turn, not the whole queue", async () => {
    const turns = new Turns(1);
    const started: string[] = [];
    const work = (name: string) => async () => {
      started.push(name);
      await new Promise((resolve) => setTimeout(resolve, 2));
    };
    const flood = ['a1', 'a2', 'a3', 'a4'].map((name) => turns.run('team-a', work(name)));
    const one = turns.run('team-b', work('b1'));
    const later = turns.run('team-a', work('a5'));
    await Promise.all([...flood, one, later]);
    assert.deepEqual(started, ['a1', 'a2', 'b1', 'a3', 'a4', 'a5']);
  });
});
