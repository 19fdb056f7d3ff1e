import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from '@faas/core';
import { firstCompileProblem, goBuildFailure } from './go-build-errors.ts';

describe('go build errors', () => {
  it('finds the first error with its file, line and column', () => {
    const output = '# faas.local/function\n./main.go:7:2: undefined: fmtx\n./main.go:9:1: missing return\n';
    assert.deepEqual(firstCompileProblem(output), {
      file: 'main.go',
      line: 7,
      column: 2,
      message: 'undefined: fmtx',
    });
    const failure = goBuildFailure(output, 'Handler');
    assert.equal(failure.code, ErrorCode.COMPILE_ERROR);
    assert.match(failure.message, /main\.go:7:2: undefined: fmtx/);
    assert.equal((failure.details as { line: number }[])[0]?.line, 7);
  });

  it('says the handler is missing or has the wrong type, not where the generated file is', () => {
    const missing = goBuildFailure('./zz_faas_handler.go:8:90: undefined: Handle\n', 'Handle');
    assert.match(missing.message, /The handler function Handle is not in package main/);
    const wrongType = goBuildFailure(
      './zz_faas_handler.go:8:90: cannot use Handler (variable of type func()) as type func(context.Context, json.RawMessage) (any, error)\n',
      'Handler',
    );
    assert.match(
      wrongType.message,
      /must be a func\(ctx context\.Context, event json\.RawMessage\) \(any, error\)/,
    );
  });

  it('tells to vendor when a module would need the module proxy', () => {
    const failure = goBuildFailure(
      'main.go:4:2: example.com/x@v1.0.0: module lookup disabled by GOPROXY=off\n',
      'Handler',
    );
    assert.match(failure.message, /module proxy is unreachable/);
    assert.match(failure.message, /go mod vendor/);
  });

  it('keeps other failures as they are, bounded', () => {
    const failure = goBuildFailure(`${'x'.repeat(10_000)}\nsomething else broke\n`, 'Handler');
    assert.match(failure.message, /something else broke/);
    assert.ok(failure.message.length < 2200);
  });
});
