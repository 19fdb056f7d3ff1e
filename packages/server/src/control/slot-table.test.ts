import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SlotTable } from './slot-table.ts';

describe('SlotTable', () => {
  it('counts per key up to the limit, across views of one buffer', () => {
    const main = new SlotTable();
    const other = new SlotTable(main.buffer);
    assert.equal(main.tryAcquire('f', 2), true);
    assert.equal(other.tryAcquire('f', 2), true);
    assert.equal(main.tryAcquire('f', 2), false);
    assert.equal(other.running('f'), 2);
    other.release('f');
    assert.equal(main.tryAcquire('f', 2), true);
    assert.equal(main.running('g'), 0);
  });

  it('gives back the slots of a dead thread from its own counts', () => {
    const main = new SlotTable();
    const thread = new SlotTable(main.buffer, SlotTable.heldBuffer());
    assert.equal(thread.tryAcquire('f', 3), true);
    assert.equal(thread.tryAcquire('f', 3), true);
    assert.equal(thread.tryAcquire('g', 3), true);
    assert.equal(main.tryAcquire('f', 3), true);
    assert.equal(main.running('f'), 3);
    assert.equal(main.releaseHeld(thread.held), 3);
    assert.equal(main.running('f'), 1, "the main thread's own slot stays");
    assert.equal(main.running('g'), 0);
    assert.equal(main.releaseHeld(thread.held), 0, 'given back once');
  });

  it("tells a thread of other threads' waiters, not its own, and forgets a dead thread's", () => {
    const main = new SlotTable();
    const thread = new SlotTable(main.buffer);
    const entry = thread.startWaiting('f');
    assert.equal(main.othersWaiting('f'), true);
    assert.equal(thread.othersWaiting('f'), false, 'its own waiter');
    thread.stopWaiting(entry);
    assert.equal(main.othersWaiting('f'), false);
    thread.startWaiting('f');
    thread.startWaiting('f');
    main.releaseHeld(thread.held);
    assert.equal(main.othersWaiting('f'), false, 'the dead thread waits no more');
  });

  it('reuses the entries of names nobody runs once the table is full, never one in use', () => {
    const table = new SlotTable(undefined, undefined, 4);
    for (const name of ['a', 'b', 'c', 'd']) {
      assert.equal(table.tryAcquire(name, 1), true);
      table.release(name);
    }
    assert.equal(table.tryAcquire('a', 1), true, 'a holds its entry');
    for (let i = 0; i < 100; i++) {
      const name = `fn-${i}`;
      assert.equal(table.tryAcquire(name, 1), true, name);
      table.release(name);
    }
    assert.equal(table.running('a'), 1, "a's count survived the churn");
    assert.equal(table.tryAcquire('a', 1), false);
    // A view that cached an entry since taken over finds its key again.
    const stale = new SlotTable(table.buffer, undefined, 4);
    assert.equal(stale.tryAcquire('fn-0', 1), true);
    for (let i = 0; i < 20; i++) {
      table.tryAcquire(`other-${i}`, 1);
      table.release(`other-${i}`);
    }
    assert.equal(stale.running('fn-0'), 1);
    stale.release('fn-0');
    assert.equal(stale.tryAcquire('fn-0', 1), true);
  });

  it('refuses a new name only when every entry is running', () => {
    const table = new SlotTable(undefined, undefined, 2);
    assert.equal(table.tryAcquire('a', 1), true);
    assert.equal(table.tryAcquire('b', 1), true);
    assert.throws(() => table.tryAcquire('c', 1), /slot table is full: 2 functions are running at once/);
    table.release('b');
    assert.equal(table.tryAcquire('c', 1), true);
  });
});
