/**
 * The arithmetic of the function page's charts, apart from drawing them: pure, so node:test
 * checks it (test/web/chart-scale.test.ts) without a browser.
 */

/** A drawing area in SVG units; y grows downwards. */
export interface Plot {
  width: number;
  height: number;
}

/**
 * The top of an axis: the first of 1, 2 or 5 × 10^k at or above the largest value, so ticks read
 * as round numbers; 1 when there is nothing to show, so an empty chart still has a scale.
 */
export function niceMax(values: ReadonlyArray<number | undefined>): number {
  let max = 0;
  for (const v of values) if (v !== undefined && Number.isFinite(v) && v > max) max = v;
  if (max <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

/** One bucket's bars: calls, and its errors drawn over them from the same baseline. */
export interface BarShape {
  x: number;
  width: number;
  callsY: number;
  callsHeight: number;
  errorsY: number;
  errorsHeight: number;
}

/** Bars for buckets side by side across the plot, scaled to `top`. */
export function barShapes(
  buckets: ReadonlyArray<{ calls: number; errors: number }>,
  plot: Plot,
  top: number,
): BarShape[] {
  const slot = plot.width / Math.max(1, buckets.length);
  // A gap between bars while there is room for one; touching bars when there is not.
  const gap = slot >= 4 ? Math.min(2, slot / 4) : 0;
  return buckets.map((b, i) => {
    const callsHeight = (Math.max(0, b.calls) / top) * plot.height;
    const errorsHeight = (Math.min(Math.max(0, b.errors), Math.max(0, b.calls)) / top) * plot.height;
    return {
      x: i * slot + gap / 2,
      width: slot - gap,
      callsY: plot.height - callsHeight,
      callsHeight,
      errorsY: plot.height - errorsHeight,
      errorsHeight,
    };
  });
}

/**
 * A line through one value per bucket (at each bucket's middle), scaled to `top`. A bucket
 * without a value breaks the line rather than inventing one; `points` are every value's place,
 * so a value alone between two gaps still shows.
 */
export function lineShape(
  values: ReadonlyArray<number | undefined>,
  plot: Plot,
  top: number,
): { path: string; points: Array<{ x: number; y: number }> } {
  const slot = plot.width / Math.max(1, values.length);
  const points: Array<{ x: number; y: number }> = [];
  let path = '';
  let drawing = false;
  values.forEach((v, i) => {
    if (v === undefined || !Number.isFinite(v)) {
      drawing = false;
      return;
    }
    const x = round(i * slot + slot / 2);
    const y = round(plot.height - (Math.min(Math.max(0, v), top) / top) * plot.height);
    points.push({ x, y });
    path += `${drawing ? 'L' : 'M'}${x} ${y}`;
    drawing = true;
  });
  return { path, points };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
