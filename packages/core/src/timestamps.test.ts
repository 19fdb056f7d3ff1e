import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isoTimestamp } from './timestamps.ts';

test('isoTimestamp is toISOString', () => {
  const samples = [0, 1, 9, 10, 99, 100, 999, 1000, 59_999, 1_733_011_199_999, 1_733_011_200_000, Date.now()];
  for (let i = 0; i < 2000; i++) samples.push(Math.floor(Math.random() * 4_102_444_800_000));
  for (const ms of samples) {
    assert.equal(isoTimestamp(ms), new Date(ms).toISOString(), String(ms));
    assert.equal(isoTimestamp(ms + 1), new Date(ms + 1).toISOString(), String(ms + 1));
  }
});

test('isoTimestamp falls back outside four-digit years and for fractions', () => {
  for (const ms of [-1, -62_198_755_200_001, 253_402_300_800_000, 8.64e15, 0, 1.5, 1000.25]) {
    assert.equal(isoTimestamp(ms), new Date(ms).toISOString(), String(ms));
  }
});
