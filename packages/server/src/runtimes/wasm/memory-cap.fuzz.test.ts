import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fuzz, wabtMissing, watModule } from '@faas/testkit';
import { capMemory, MemoryCapProblem } from './memory-cap.ts';

const CAP_PAGES = 4;

describe('capMemory under fuzzing', { skip: wabtMissing() }, () => {
  it('answers a module or MemoryCapProblem, never another throw or a hang; a valid module stays valid', async () => {
    const seeds = [
      watModule('echo'),
      watModule('memory-hog'),
      watModule('environment'),
      watModule('big-initial-memory'),
    ];
    const report = await fuzz({
      seeds,
      run: (input) => {
        const out = capMemory(input, CAP_PAGES);
        if (!WebAssembly.validate(input)) return;
        assert.equal(WebAssembly.validate(out), true, 'a valid module became invalid');
      },
      rejects: (err) => err instanceof MemoryCapProblem,
    });
    assert.ok(report.runs > seeds.length);
  });
});
