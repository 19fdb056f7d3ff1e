import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { HotCounter, HotHistogram, SeriesCache } from './hot-metrics.ts';

const BUCKETS = [0.001, 0.01, 0.1, 1];
const VALUES = [0, 0.001, 0.0011, 0.05, 0.1, 0.5, 2, 30];

describe('hot metrics', () => {
  it("write the same text as prom-client's Counter and Histogram for the same observations", async () => {
    const hot = new Registry();
    const reference = new Registry();
    const hc = new HotCounter({ name: 'x_total', help: 'h', registers: [hot] });
    const hh = new HotHistogram({ name: 'x_seconds', help: 'h', buckets: BUCKETS, registers: [hot] });
    const rc = new Counter({
      name: 'x_total',
      help: 'h',
      labelNames: ['fn', 'outcome'],
      registers: [reference],
    });
    const rh = new Histogram({
      name: 'x_seconds',
      help: 'h',
      labelNames: ['fn', 'outcome'],
      buckets: BUCKETS,
      registers: [reference],
    });
    for (const [fn, outcome] of [
      ['a', 'ok'],
      ['b', 'failed'],
      ['a', 'ok'],
    ] as const) {
      for (const v of VALUES) {
        const labels = { fn, outcome };
        hc.inc(`${fn} ${outcome}`, () => labels);
        hh.observe(`${fn} ${outcome}`, () => labels, v);
        rc.inc(labels);
        rh.observe(labels, v);
      }
    }
    assert.equal(await hot.metrics(), await reference.metrics());
  });

  it('are summed across registries by the AggregatorRegistry, as the gateway threads are', async () => {
    const threads = [new Registry(), new Registry()];
    threads.forEach((registry, i) => {
      const c = new HotCounter({ name: 'y_total', help: 'h', registers: [registry] });
      const h = new HotHistogram({ name: 'y_seconds', help: 'h', buckets: BUCKETS, registers: [registry] });
      for (let n = 0; n <= i; n++) {
        c.inc('k', () => ({ route: '/r' }));
        h.observe('k', () => ({ route: '/r' }), 0.05);
      }
    });
    const merged = await AggregatorRegistry.aggregate(
      await Promise.all(threads.map((r) => r.getMetricsAsJSON())),
    ).metrics();
    assert.match(merged, /^y_total\{route="\/r"\} 3$/m);
    assert.match(merged, /^y_seconds_bucket\{le="0\.1",route="\/r"\} 3$/m);
    assert.match(merged, /^y_seconds_count\{route="\/r"\} 3$/m);
  });

  it('SeriesCache makes one series per distinct label values, and finds it again', () => {
    let made = 0;
    const cache = new SeriesCache((a, b, c) => ({ id: ++made, a, b, c }));
    const first = cache.get('fn', 200, 'GET');
    assert.equal(cache.get('fn', 200, 'GET'), first);
    assert.notEqual(cache.get('fn', 201, 'GET'), first);
    assert.notEqual(cache.get('fn', '200', 'GET'), first, 'a number and its text are different parts');
    assert.equal(made, 3);
  });
});
