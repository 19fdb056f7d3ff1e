import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newId } from './ids.ts';

describe('newId', () => {
  it('is prefixed, unique across pool refills, and sorts by time', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 1000; i++) ids.add(newId('inv'));
    assert.equal(ids.size, 1000);
    for (const id of ids) assert.match(id, /^inv_[0-9a-hjkmnp-tv-z]{26}$/);
    assert.ok(newId('inv', 1_000) < newId('inv', 2_000));
  });

  it('keeps each prefix and time in ids made in the same millisecond', () => {
    const [a, b, c] = [newId('inv', 5_000), newId('key', 5_000), newId('inv', 5_000)];
    assert.match(a, /^inv_00000004w8/);
    assert.match(b, /^key_00000004w8/);
    assert.equal(c.slice(0, 14), a.slice(0, 14));
    assert.notEqual(c, a);
  });
});
