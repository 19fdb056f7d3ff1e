import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ErrorCode } from '@faas/core';
import { fuzz } from '@faas/testkit';
import { firstCompileProblem, goBuildFailure } from './go-build-errors.ts';

const SEEDS = [
  '# faas.local/function\n./main.go:7:2: undefined: x\n',
  './zz_faas_handler.go:8:90: cannot use Handler (value of type func()) as type func\n',
  'main.go:4:2: example.com/x@v1.0.0: module lookup disabled by GOPROXY=off\n',
  `./a.go:${'9'.repeat(40)}:1: huge line number\n`,
].map((s) => Buffer.from(s));

it("reading go build's output (the function's text too) answers a 422 for any bytes, in bounded time", async () => {
  const report = await fuzz({
    seeds: SEEDS,
    maxBytes: 64 * 1024,
    maxRunMs: 500,
    run: (input) => {
      const text = Buffer.from(input).toString('utf8');
      const problem = firstCompileProblem(text);
      if (problem) {
        assert.ok(Number.isSafeInteger(problem.line));
        assert.ok(problem.message.length <= 2000);
      }
      const failure = goBuildFailure(text, 'Handler');
      assert.equal(failure.code, ErrorCode.COMPILE_ERROR);
      assert.ok(failure.message.length < 8000);
    },
  });
  assert.ok(report.runs > 0);
});
