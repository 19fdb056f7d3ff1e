import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, type FaasError } from '@faas/core';
import { resolveHandler } from './resolve-handler.ts';
import type { SourceFiles } from './source-files.ts';

const filesOf = (...paths: string[]): SourceFiles => new Map(paths.map((p) => [p, new Uint8Array()]));

function failure(run: () => unknown): FaasError {
  try {
    run();
  } catch (err) {
    return err as FaasError;
  }
  assert.fail('expected resolveHandler to throw');
}

describe('resolveHandler', () => {
  it('splits at the last dot and tries the runtime extensions in order', () => {
    assert.deepEqual(resolveHandler(filesOf('index.js', 'index.ts'), 'index.default', 'ts'), {
      entryPath: 'index.ts',
      exportName: 'default',
    });
    assert.deepEqual(resolveHandler(filesOf('index.js', 'index.ts'), 'index.default', 'js'), {
      entryPath: 'index.js',
      exportName: 'default',
    });
    assert.deepEqual(resolveHandler(filesOf('src/api.mts'), 'src/api.handler', 'ts'), {
      entryPath: 'src/api.mts',
      exportName: 'handler',
    });
    assert.equal(resolveHandler(filesOf('index.cjs'), 'index.default', 'js').entryPath, 'index.cjs');
    assert.equal(resolveHandler(filesOf('app.v2.mjs'), 'app.v2.run', 'js').entryPath, 'app.v2.mjs');
  });

  it('lets node find .ts after the JavaScript extensions', () => {
    assert.equal(resolveHandler(filesOf('index.ts'), 'index.default', 'node').entryPath, 'index.ts');
    assert.equal(
      resolveHandler(filesOf('index.ts', 'index.mjs'), 'index.default', 'node').entryPath,
      'index.mjs',
    );
  });

  it('does not give js a TypeScript file', () => {
    const err = failure(() => resolveHandler(filesOf('index.ts'), 'index.default', 'js'));
    assert.equal(err.code, ErrorCode.VALIDATION);
  });

  it('finds python modules, dotted module paths and packages', () => {
    assert.deepEqual(resolveHandler(filesOf('main.py'), 'main.handler', 'python'), {
      entryPath: 'main.py',
      exportName: 'handler',
    });
    assert.equal(resolveHandler(filesOf('app/api.py'), 'app.api.handler', 'python').entryPath, 'app/api.py');
    assert.equal(resolveHandler(filesOf('app/api.py'), 'app/api.handler', 'python').entryPath, 'app/api.py');
    assert.equal(
      resolveHandler(filesOf('pkg/__init__.py'), 'pkg.handler', 'python').entryPath,
      'pkg/__init__.py',
    );
  });

  it('takes a handler that already names its extension', () => {
    assert.equal(
      resolveHandler(filesOf('index.mjs', 'index.js'), 'index.mjs.default', 'js').entryPath,
      'index.mjs',
    );
  });

  it('names the tried and the existing files, and the handler field, when the file is missing', () => {
    const many = Array.from({ length: 14 }, (_, i) => `f${String(i).padStart(2, '0')}.ts`);
    const err = failure(() => resolveHandler(filesOf(...many), 'src/api.handler', 'ts'));
    assert.equal(err.code, ErrorCode.VALIDATION);
    assert.equal(err.status, 422);
    assert.match(err.message, /handler "src\/api\.handler"/);
    assert.match(
      err.message,
      /tried src\/api\.ts, src\/api\.tsx, src\/api\.mts, src\/api\.js, src\/api\.mjs/,
    );
    assert.match(err.message, /the code has f00\.ts, f01\.ts, .*f09\.ts and 4 more/);
    assert.doesNotMatch(err.message, /f10\.ts/);
    assert.deepEqual(err.details, [
      { field: 'handler', message: (err.details as Array<{ message: string }>)[0]?.message },
    ]);
  });

  it('refuses a handler without an export', () => {
    for (const handler of ['index', 'index.', '.default']) {
      const err = failure(() => resolveHandler(filesOf('index.ts'), handler, 'ts'));
      assert.equal(err.code, ErrorCode.VALIDATION);
      assert.match(err.message, /must be "file\.export"/);
    }
  });
});
