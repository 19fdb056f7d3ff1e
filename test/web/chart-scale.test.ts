// The console's chart arithmetic (packages/web/src/chart-scale.ts), without a browser.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { barShapes, lineShape, niceMax } from '../../packages/web/src/chart-scale.ts';

const PLOT = { width: 100, height: 50 };

describe('chart scales', () => {
  it('rounds the top of an axis up to 1, 2 or 5 × 10^k, and is 1 with nothing to show', () => {
    assert.deepEqual(
      [[0], [], [1], [3], [7], [10], [11], [0.3], [250], [5000], [5001]].map((v) => niceMax(v)),
      [1, 1, 1, 5, 10, 10, 20, 0.5, 500, 5000, 10000],
    );
    assert.equal(niceMax([undefined, 3, Number.NaN, Number.POSITIVE_INFINITY, -4]), 5);
  });

  it('lays bars side by side, errors from the same baseline and never taller than the calls', () => {
    const bars = barShapes(
      [
        { calls: 10, errors: 5 },
        { calls: 0, errors: 0 },
        { calls: 4, errors: 9 },
      ],
      { width: 90, height: 50 },
      10,
    );
    assert.equal(bars.length, 3);
    assert.deepEqual(
      bars.map((b) => [b.callsHeight, b.callsY, b.errorsHeight, b.errorsY]),
      [
        [50, 0, 25, 25],
        [0, 50, 0, 50],
        [20, 30, 20, 30],
      ],
    );
    // Slots of 30: a gap of 2 between bars, each inside its own slot.
    assert.deepEqual(
      bars.map((b) => [b.x, b.width]),
      [
        [1, 28],
        [31, 28],
        [61, 28],
      ],
    );
  });

  it('draws a line through bucket middles, broken where a bucket has no value', () => {
    const { path, points } = lineShape([10, 20, undefined, 5, undefined], PLOT, 20);
    assert.equal(path, 'M10 25L30 0M70 37.5');
    assert.deepEqual(points, [
      { x: 10, y: 25 },
      { x: 30, y: 0 },
      { x: 70, y: 37.5 },
    ]);
    assert.deepEqual(lineShape([], PLOT, 1), { path: '', points: [] });
    // A value past the top stays inside the plot.
    assert.equal(lineShape([40], PLOT, 20).points[0]?.y, 0);
  });
});
