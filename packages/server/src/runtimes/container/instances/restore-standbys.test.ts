import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import type { InstanceSpec } from '@faas/core';
import type { Instance } from './instance.ts';
import { RestoreStandbys } from './restore-standbys.ts';

const spec = { image: 'img' } as InstanceSpec;
const checkpoint = async () => Readable.from([Buffer.from([1, 2, 3])]);

/** Standbys over fake restores: each restore is an object named by a counter. */
function standbys(capacity: number, options: { failRestore?: boolean; gate?: Promise<void> } = {}) {
  let made = 0;
  const removed: string[] = [];
  const errors: string[] = [];
  const pool = new RestoreStandbys({
    capacity,
    idleMs: 1000,
    restorePaused: async () => {
      await options.gate;
      if (options.failRestore) throw new Error('restore failed');
      made += 1;
      return { id: `s${made}`, containerId: `c${made}` } as Instance;
    },
    remove: async (standby) => {
      removed.push(standby.id);
    },
    onError: (message) => errors.push(message),
  });
  return { pool, removed, errors, made: () => made };
}

describe('RestoreStandbys', () => {
  it('restores one standby per snapshot in the background and hands it out once', async () => {
    const { pool, made } = standbys(4);
    assert.deepEqual(pool.take('snap', 1), { ready: [] });
    pool.fill('snap', spec, checkpoint);
    pool.fill('snap', spec, checkpoint);
    assert.equal(pool.count, 1, 'the one being restored counts');
    assert.deepEqual(pool.readyBySnapshot(), {}, 'but is not ready: no restore is placed here for it');
    await pool.settled();
    assert.equal(made(), 1);
    assert.deepEqual(pool.readyBySnapshot(), { snap: 1 });
    assert.deepEqual(
      pool.take('snap', 3).ready.map((s) => s.id),
      ['s1'],
    );
    assert.deepEqual(pool.take('snap', 1), { ready: [] });
    assert.equal(pool.count, 0);
    assert.deepEqual(pool.readyBySnapshot(), {});
  });

  it('hands the standby being restored to a caller who wants more than are ready, once', async () => {
    let open!: () => void;
    const { pool } = standbys(4, { gate: new Promise((resolve) => (open = resolve)) });
    pool.fill('snap', spec, checkpoint);
    const first = pool.take('snap', 2);
    assert.deepEqual(first.ready, []);
    assert.ok(first.pending, 'the one on its way is offered');
    assert.equal(pool.take('snap', 2).pending, undefined, 'and only to one caller');
    open();
    assert.equal((await first.pending)?.id, 's1');
    await pool.settled();
    assert.deepEqual(
      pool.take('snap', 1).ready.map((s) => s.id),
      ['s2'],
      'it went to the caller, not to ready; the next one was made for ready',
    );
    const failing = standbys(4, {
      failRestore: true,
      gate: new Promise((resolve) => setTimeout(resolve, 5)),
    });
    failing.pool.fill('snap', spec, checkpoint);
    assert.equal(await failing.pool.take('snap', 1).pending, undefined);
  });

  it('keeps as many as the largest fork asked for, within capacity', async () => {
    const { pool } = standbys(3);
    pool.fill('snap', spec, checkpoint, 5);
    await pool.settled();
    assert.equal(pool.count, 3);
    assert.equal(pool.take('snap', 5).ready.length, 3);
  });

  it('gives the least recently used snapshot’s standbys up for a new one at capacity', async () => {
    const { pool, removed } = standbys(2);
    pool.fill('old', spec, checkpoint, 2);
    await pool.settled();
    await new Promise((resolve) => setTimeout(resolve, 2));
    pool.fill('new', spec, checkpoint);
    await pool.settled();
    assert.deepEqual(removed.sort(), ['s1', 's2']);
    assert.equal(pool.take('old', 1).ready.length, 0);
    assert.equal(pool.take('new', 1).ready.length, 1);
  });

  it('does not give a newer snapshot’s standbys up to refill an older one', async () => {
    let made = 0;
    const removed: string[] = [];
    const pool = new RestoreStandbys({
      capacity: 3,
      idleMs: 1000,
      // The second restore is slow: 'b' is used while 'a' is still being refilled.
      restorePaused: async () => {
        made += 1;
        const id = `s${made}`;
        if (made === 2) await new Promise((resolve) => setTimeout(resolve, 30));
        return { id, containerId: id } as Instance;
      },
      remove: async (standby) => {
        removed.push(standby.id);
      },
      onError: () => {},
    });
    pool.fill('a', spec, checkpoint, 3);
    await new Promise((resolve) => setTimeout(resolve, 10));
    pool.fill('b', spec, checkpoint);
    await pool.settled();
    assert.deepEqual(removed, [], 'a’s refill stopped at capacity instead of evicting b');
    assert.equal(pool.take('b', 1).ready.length, 1);
    assert.equal(pool.take('a', 3).ready.length, 2);
  });

  it('makes no standby again for a dropped snapshot, even asked by a restore still running', async () => {
    const { pool, made } = standbys(4);
    pool.fill('snap', spec, checkpoint);
    await pool.settled();
    await pool.drop('snap');
    pool.fill('snap', spec, checkpoint, 2);
    await pool.settled();
    assert.equal(made(), 1);
    assert.equal(pool.count, 0);
  });

  it('removes the standbys of a dropped snapshot, of idle snapshots, and all at close', async () => {
    const { pool, removed } = standbys(4);
    pool.fill('a', spec, checkpoint);
    pool.fill('b', spec, checkpoint);
    pool.fill('c', spec, checkpoint);
    await pool.settled();
    await pool.drop('a');
    assert.deepEqual(removed, ['s1']);
    await pool.expire(Date.now() + 500);
    assert.equal(pool.count, 2, 'not idle yet');
    await pool.expire(Date.now() + 1000);
    assert.deepEqual(removed.sort(), ['s1', 's2', 's3']);
    pool.fill('d', spec, checkpoint);
    await pool.close();
    assert.equal(removed.length, 4);
    pool.fill('e', spec, checkpoint);
    assert.equal(pool.count, 0, 'closed: no more standbys');
  });

  it('reports a failed restore and holds nothing; capacity 0 restores nothing', async () => {
    const failing = standbys(4, { failRestore: true });
    failing.pool.fill('snap', spec, checkpoint);
    await failing.pool.settled();
    assert.equal(failing.pool.count, 0);
    assert.match(failing.errors[0] ?? '', /snapshot snap failed/);
    const off = standbys(0);
    off.pool.fill('snap', spec, checkpoint);
    await off.pool.settled();
    assert.equal(off.made(), 0);
  });
});
