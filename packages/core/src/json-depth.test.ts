import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonNestsDeeperThan, MAX_JSON_DEPTH } from './json-depth.ts';

const nested = (depth: number, open = '[', close = ']') => open.repeat(depth) + close.repeat(depth);

describe('jsonNestsDeeperThan', () => {
  it('counts arrays and objects, up to the limit and one past it', () => {
    assert.equal(jsonNestsDeeperThan(nested(MAX_JSON_DEPTH)), false);
    assert.equal(jsonNestsDeeperThan(nested(MAX_JSON_DEPTH + 1)), true);
    assert.equal(jsonNestsDeeperThan(`${'{"a":'.repeat(5)}1${'}'.repeat(5)}`, 4), true);
    assert.equal(jsonNestsDeeperThan(`${'{"a":'.repeat(4)}1${'}'.repeat(4)}`, 4), false);
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    const text = JSON.stringify({ s: `\\"${'['.repeat(5000)}`, t: ['"[[[['] });
    assert.equal(jsonNestsDeeperThan(text, 3), false);
    assert.equal(JSON.parse(text).s.length, 5002);
  });

  it('a wide value of any size is not deep', () => {
    assert.equal(jsonNestsDeeperThan(JSON.stringify(Array.from({ length: 10_000 }, (_, i) => [i]))), false);
  });

  it('agrees with what JSON.stringify can take back', () => {
    const deep = JSON.parse(nested(20_000));
    assert.throws(() => JSON.stringify(deep), RangeError);
    assert.equal(jsonNestsDeeperThan(nested(20_000)), true);
  });
});
