import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Metric, summaryTable, verdict } from './report.ts';
import { percentile } from './stats.ts';

describe('verdict', () => {
  it('checks the ratio or the faas figure against the target', () => {
    const ratio: Metric = {
      section: 's',
      metric: 'm',
      unit: 'req/s',
      faas: 50,
      baseline: 100,
      ratio: 0.5,
      target: { op: '>=', value: 0.6, of: 'ratio' },
    };
    assert.equal(verdict(ratio), 'MISS');
    assert.equal(verdict({ ...ratio, ratio: 0.7 }), 'PASS');
    const latency: Metric = {
      section: 's',
      metric: 'm',
      unit: 'ms',
      faas: 9,
      target: { op: '<=', value: 10, of: 'faas' },
    };
    assert.equal(verdict(latency), 'PASS');
    assert.equal(verdict({ ...latency, faas: Number.NaN }), 'MISS');
    assert.equal(verdict({ section: 's', metric: 'm', unit: 'ms', faas: 1 }), '');
  });

  it('puts each metric on its own row', () => {
    const table = summaryTable([
      {
        section: 's',
        metric: 'first invoke p50',
        unit: 'ms',
        faas: 7.25,
        target: { op: '<=', value: 10, of: 'faas' },
      },
    ]);
    assert.match(table, /first invoke p50 \(ms\)\s+7\.25\s+\(<= 10 ms\)\s+PASS/);
  });
});

describe('percentile', () => {
  it('is nearest-rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    assert.equal(percentile(values, 50), 50);
    assert.equal(percentile(values, 99), 99);
    assert.ok(Number.isNaN(percentile([], 50)));
  });
});
