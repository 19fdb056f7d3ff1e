import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FuzzFailure, fuzz } from './fuzz.ts';

describe('fuzz', () => {
  it('runs the seeds first, then mutations, within the run bound', async () => {
    const seen: string[] = [];
    const report = await fuzz({
      seeds: [Buffer.from('hello'), Buffer.from('world')],
      run: (input) => {
        seen.push(Buffer.from(input).toString('latin1'));
      },
      maxRuns: 500,
      seed: 7,
    });
    assert.equal(report.runs, 500);
    assert.deepEqual(seen.slice(0, 2), ['hello', 'world']);
    assert.ok(new Set(seen).size > 100, 'mutations differ from each other');
  });

  it('is deterministic for a seed', async () => {
    const collect = async () => {
      const inputs: string[] = [];
      await fuzz({
        seeds: [Buffer.from('{"a":1}')],
        run: (i) => void inputs.push(Buffer.from(i).toString('hex')),
        maxRuns: 200,
        seed: 99,
      });
      return inputs;
    };
    assert.deepEqual(await collect(), await collect());
  });

  it('fails with the seed and the input on an unexpected throw, and counts documented refusals', async () => {
    const target = (input: Uint8Array) => {
      if (input.length === 0) throw new RangeError('empty');
      if (input[0] === 0xff) throw new Error('crash');
    };
    await assert.rejects(
      fuzz({
        seeds: [Buffer.from([1, 2, 3])],
        run: target,
        rejects: (e) => e instanceof RangeError,
        maxRuns: 50_000,
        seed: 3,
      }),
      (err: unknown) => err instanceof FuzzFailure && err.seed === 3 && err.input[0] === 0xff,
    );
  });

  it('fails a run slower than maxRunMs', async () => {
    await assert.rejects(
      fuzz({
        seeds: [Buffer.from('x')],
        run: () => {
          const until = performance.now() + 30;
          while (performance.now() < until) {}
        },
        maxRunMs: 5,
        maxRuns: 3,
        seed: 1,
      }),
      /took \d+ ms/,
    );
  });
});
