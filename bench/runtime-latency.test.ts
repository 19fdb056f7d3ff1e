import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dockerAnswers } from './container.ts';
import { LATENCY_RUNTIMES, latencyTable, measureRuntimeLatency } from './runtime-latency.ts';

/** Section 10 runs end to end with tiny counts: every runtime answers, and the table compares them. */
describe('bench section 10: runtime latency', () => {
  it('measures cold and warm invokes of every runtime in one run, with ratios against node', {
    timeout: 900_000,
  }, async () => {
    const withContainers = dockerAnswers();
    const lines: string[] = [];
    const { rows, metrics, notes } = await measureRuntimeLatency({
      coldCount: 2,
      warmCount: 3,
      withContainers,
      log: (line) => lines.push(line),
    });
    const expected = withContainers ? [...LATENCY_RUNTIMES] : ['wasm', 'js'];
    assert.deepEqual(
      rows.map((r) => r.runtime),
      expected,
    );
    for (const row of rows) {
      for (const figure of [row.cold.p50, row.cold.p99, row.warm.p50, row.warm.p99])
        assert.ok(Number.isFinite(figure) && figure > 0, `${row.runtime}: ${JSON.stringify(row)}`);
      assert.deepEqual([row.cold.n, row.warm.n], [2, 3]);
    }
    assert.equal(metrics.length, rows.length * 4);
    assert.equal(notes.length, withContainers ? 0 : 3);
    const table = lines.join('\n');
    for (const runtime of expected) assert.match(table, new RegExp(`^\\s+${runtime}\\s`, 'm'));
    if (withContainers) {
      assert.match(table, /^\s+node\s+\S+ ms ×1\.00/m);
      // Every other row's figures carry their ratio to node's.
      const go = metrics.find((m) => m.metric.startsWith('go warm invoke p50'));
      const node = metrics.find((m) => m.metric.startsWith('node warm invoke p50'));
      assert.ok(go && node);
      assert.equal(go.baseline, node.faas);
      assert.equal(go.ratio, go.faas / node.faas);
    }
  });

  it('prints each figure with its ratio to the baseline row, and none without one', () => {
    const row = (runtime: 'node' | 'js', p50: number) => ({
      runtime,
      cold: { p50: p50 * 10, p99: p50 * 20, n: 1 },
      warm: { p50, p99: p50 * 2, n: 1 },
    });
    const table = latencyTable([row('node', 2), row('js', 0.5)]);
    assert.match(table, /^node\s+20\.00 ms ×1\.00\s+40\.00 ms ×1\.00\s+2\.00 ms ×1\.00\s+4\.00 ms ×1\.00/m);
    assert.match(table, /^js\s+5\.00 ms ×0\.25\s+10\.00 ms ×0\.25\s+0\.50 ms ×0\.25\s+1\.00 ms ×0\.25/m);
    assert.match(table, /× the node row's figure/);
    assert.doesNotMatch(latencyTable([row('js', 1)]), /×/);
  });
});
