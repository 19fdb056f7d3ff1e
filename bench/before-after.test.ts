import assert from 'node:assert/strict';
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkOut, measureBeforeAfter } from './before-after.ts';
import { runNodeLoad } from './lib/node-loadgen.ts';

describe('bench section 9: this tree against an earlier commit', () => {
  it("checks the commit out with this tree's dependencies but its own packages", () => {
    const tree = checkOut('HEAD');
    try {
      assert.match(tree.commit, /^[0-9a-f]{40}$/);
      assert.equal(
        realpathSync(join(tree.root, 'node_modules/@faas/server')),
        realpathSync(join(tree.root, 'packages/server')),
      );
      assert.ok(existsSync(join(tree.root, 'node_modules/fastify/package.json')));
    } finally {
      tree.remove();
    }
    assert.ok(!existsSync(tree.root));
  });

  it('runs both servers under the same load and prints their ratio', { timeout: 180_000 }, async () => {
    const lines: string[] = [];
    const metrics = await measureBeforeAfter({
      ref: 'HEAD',
      maxCostPercent: 5,
      load: runNodeLoad,
      durationS: 1,
      warmupS: 1,
      rounds: 1,
      log: (line) => lines.push(line),
    });
    const throughput = metrics[0];
    assert.ok(throughput && throughput.faas > 0 && (throughput.baseline ?? 0) > 0, JSON.stringify(metrics));
    assert.ok(Number.isFinite(throughput.ratio));
    assert.ok(
      lines.some((l) => /after \/ before throughput: \d/.test(l)),
      lines.join('\n'),
    );
  });
});
