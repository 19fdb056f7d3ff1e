import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createContext, Script } from 'node:vm';
import { ErrorCode } from '@faas/core';
import { buildIsolateArtifact } from './build-isolate-artifact.ts';
import type { CompileProblem } from './compile-error.ts';
import type { SourceFiles } from './source-files.ts';
import { rejectsWith } from './test-support.ts';

const filesOf = (record: Record<string, string>): SourceFiles =>
  new Map(Object.entries(record).map(([path, content]) => [path, new TextEncoder().encode(content)]));

/** Runs the artifact as the isolate does: a classic script in a bare context, then reads `__faas`. */
function load(artifact: Uint8Array): Record<string, (...args: unknown[]) => unknown> {
  const context = createContext({});
  new Script(new TextDecoder().decode(artifact), { filename: 'artifact.js' }).runInContext(context);
  return context.__faas;
}

describe('buildIsolateArtifact', () => {
  it('compiles TypeScript with types into a script that sets globalThis.__faas', async () => {
    const files = filesOf({
      'index.ts': [
        'interface Event { name: string }',
        'type Reply = { greeting: string };',
        'export default async function handler(event: Event): Promise<Reply> {',
        '  const who: string = event.name;',
        '  return { greeting: `hello ${who}` };',
        '}',
      ].join('\n'),
    });
    const namespace = load(await buildIsolateArtifact(files, 'index.ts', { runtime: 'ts' }));
    assert.equal(typeof namespace.default, 'function');
    assert.deepEqual(
      { ...((await namespace.default?.({ name: 'ada' })) as object) },
      { greeting: 'hello ada' },
    );
  });

  it('bundles relative imports across files: .js naming .ts, folders, index files and JSON', async () => {
    const files = filesOf({
      'src/api.ts': [
        "import { add } from './lib/math.js';",
        "import { shout } from './text';",
        "import config from '../config.json';",
        'export const handler = (event: { a: number; b: number }) => shout(`${config.label} ${add(event.a, event.b)}`);',
      ].join('\n'),
      'src/lib/math.ts': 'export const add = (a: number, b: number): number => a + b;',
      'src/text/index.ts': 'export function shout(s: string): string { return s.toUpperCase(); }',
      'config.json': '{ "label": "sum" }',
      'unused.ts': 'this is not even valid code (',
    });
    const namespace = load(
      await buildIsolateArtifact(files, 'src/api.ts', { runtime: 'ts', exportName: 'handler' }),
    );
    assert.equal(namespace.handler?.({ a: 2, b: 3 }), 'SUM 5');
  });

  it('gives code no require beyond a stub that refuses every module', async () => {
    // esbuild turns a free `require` into its own local `__require`, which throws when called
    // because the isolate has no global `require`; the global itself stays undefined.
    const files = filesOf({
      'index.js':
        'export default (name) => [typeof globalThis.require, typeof module, typeof process, require(name)];',
    });
    const namespace = load(await buildIsolateArtifact(files, 'index.js', { runtime: 'js' }));
    assert.throws(() => namespace.default?.('fs'), /Dynamic require of "fs" is not supported/);
    const probe = filesOf({
      'index.js': 'export default () => [typeof globalThis.require, typeof module, typeof process];',
    });
    const types = load(
      await buildIsolateArtifact(probe, 'index.js', { runtime: 'js' }),
    ).default?.() as string[];
    assert.deepEqual([...types], ['undefined', 'undefined', 'undefined']);
  });

  it('runs plain JavaScript, and gives a CommonJS entry its module.exports as default', async () => {
    const esm = filesOf({
      'index.js': "import { twice } from './twice.mjs';\nexport default (e) => twice(e);",
    });
    esm.set('twice.mjs', new TextEncoder().encode('export const twice = (n) => n * 2;'));
    assert.equal(load(await buildIsolateArtifact(esm, 'index.js', { runtime: 'js' })).default?.(21), 42);
    const cjs = filesOf({
      'index.js': "const x = require('./x.cjs');\nmodule.exports = (e) => e + x;",
      'x.cjs': 'module.exports = 1;',
    });
    assert.equal(load(await buildIsolateArtifact(cjs, 'index.js', { runtime: 'js' })).default?.(41), 42);
    const named = filesOf({ 'index.js': 'exports.handler = (e) => e + 1;' });
    const namespace = load(
      await buildIsolateArtifact(named, 'index.js', { runtime: 'js', exportName: 'handler' }),
    );
    assert.equal(namespace.handler?.(41), 42);
    assert.equal(typeof namespace.default, 'object');
  });

  it('builds the same bytes from the same files', async () => {
    const files = filesOf({
      'index.ts': "import { x } from './x';\nexport default () => x;",
      'x.ts': 'export const x = 1;',
    });
    const a = await buildIsolateArtifact(files, 'index.ts', { runtime: 'ts' });
    const b = await buildIsolateArtifact(new Map([...files].reverse()), 'index.ts', { runtime: 'ts' });
    assert.deepEqual(a, b);
  });

  it('gives an entry that one of its imports imports back one module, run once', async () => {
    // The entry goes to esbuild as stdin only when it names no relative module: as stdin, a
    // file importing it would get a second copy, running its top level twice.
    const files = filesOf({
      'index.js': [
        "import { count } from './count.js';",
        'globalThis.entryRuns = (globalThis.entryRuns ?? 0) + 1;',
        'export const name = "entry";',
        'export default () => [count(), globalThis.entryRuns];',
      ].join('\n'),
      'count.js': "import * as entry from './index.js';\nexport const count = () => entry.name;",
    });
    const namespace = load(await buildIsolateArtifact(files, 'index.js', { runtime: 'js' }));
    assert.equal(JSON.stringify(namespace.default?.()), '["entry",1]');
  });

  it('names a single-file entry in a folder by its path in errors and the source map', async () => {
    const bad = filesOf({ 'src/handler.js': 'export default () => {\n  return = 1;\n};' });
    await rejectsWith(
      buildIsolateArtifact(bad, 'src/handler.js', { runtime: 'js' }),
      ErrorCode.COMPILE_ERROR,
      /^src\/handler\.js:2:10: /,
    );
    const good = filesOf({ 'src/handler.js': 'export default () => 1;' });
    const text = new TextDecoder().decode(
      await buildIsolateArtifact(good, 'src/handler.js', { runtime: 'js' }),
    );
    const map = /sourceMappingURL=data:application\/json;base64,(\S+)/.exec(text)?.[1] ?? '';
    const sources = JSON.parse(Buffer.from(map, 'base64').toString()).sources as string[];
    assert.deepEqual(
      sources.map((source) => source.replace(/^faas:/, '')),
      ['src/handler.js'],
    );
  });

  it('reports a syntax error with its file, line and column', async () => {
    const files = filesOf({
      'index.ts': "import { f } from './lib/bad';\nexport default f;",
      'lib/bad.ts': 'export function f() {\n  return 1;\n  let x = = 2;\n}\n',
    });
    const err = await rejectsWith(
      buildIsolateArtifact(files, 'index.ts', { runtime: 'ts' }),
      ErrorCode.COMPILE_ERROR,
      /^lib\/bad\.ts:3:11: Unexpected "="$/,
    );
    assert.equal(err.status, 422);
    assert.deepEqual(err.details, [
      { file: 'lib/bad.ts', line: 3, column: 11, message: 'Unexpected "="', lineText: '  let x = = 2;' },
    ]);
  });

  it('counts further errors in the message and lists them all in details', async () => {
    const files = filesOf({
      'index.ts': "import a from './a';\nimport b from './b';\nexport default a + b;",
    });
    const err = await rejectsWith(
      buildIsolateArtifact(files, 'index.ts', { runtime: 'ts' }),
      ErrorCode.COMPILE_ERROR,
      /^index\.ts:1:15: Could not resolve "\.\/a".* \(and 1 more error\)$/,
    );
    assert.equal((err.details as CompileProblem[])[1]?.line, 2);
  });

  it('refuses TypeScript syntax for runtime js', async () => {
    const files = filesOf({ 'index.js': 'export default (e: number) => e;' });
    await rejectsWith(
      buildIsolateArtifact(files, 'index.js', { runtime: 'js' }),
      ErrorCode.COMPILE_ERROR,
      /^index\.js:1:18: Expected "\)" but found ":"$/,
    );
  });

  it('refuses npm packages and Node modules, suggesting runtime node', async () => {
    const lodash = filesOf({ 'index.ts': "import _ from 'lodash';\nexport default () => _.identity(1);" });
    await rejectsWith(
      buildIsolateArtifact(lodash, 'index.ts', { runtime: 'ts' }),
      ErrorCode.COMPILE_ERROR,
      /^index\.ts:1:15: Cannot import "lodash": the isolate runtime \("ts"\) has no npm packages.*runtime "node"/,
    );
    const fs = filesOf({ 'index.js': "const fs = require('node:fs');\nexport default () => fs;" });
    await rejectsWith(
      buildIsolateArtifact(fs, 'index.js', { runtime: 'js' }),
      ErrorCode.COMPILE_ERROR,
      /^index\.js:1:20: Cannot import "node:fs": the isolate runtime \("js"\) has no Node APIs/,
    );
  });

  it('refuses imports that leave the code folder', async () => {
    const files = filesOf({ 'index.ts': "import x from '../../etc/passwd';\nexport default x;" });
    await rejectsWith(
      buildIsolateArtifact(files, 'index.ts', { runtime: 'ts' }),
      ErrorCode.COMPILE_ERROR,
      /leaves the function's code folder/,
    );
  });

  it("refuses an entry without the handler's export, listing what it exports", async () => {
    const files = filesOf({ 'index.ts': 'export const handler = () => 1;\nexport const other = 2;' });
    const err = await rejectsWith(
      buildIsolateArtifact(files, 'index.ts', { runtime: 'ts' }),
      ErrorCode.COMPILE_ERROR,
      /^index\.ts: the handler's export "default" is missing \(it exports handler, other\)$/,
    );
    assert.deepEqual((err.details as CompileProblem[])[0]?.file, 'index.ts');
    const named = await buildIsolateArtifact(files, 'index.ts', { runtime: 'ts', exportName: 'handler' });
    assert.equal(load(named).handler?.(), 1);
  });

  it("reads a JavaScript entry's exports from its own statements, and refuses one without the handler's", async () => {
    const files = filesOf({
      'index.js': 'const h = () => 1;\nexport { h as handler };\nexport const other = 2;',
    });
    await rejectsWith(
      buildIsolateArtifact(files, 'index.js', { runtime: 'js' }),
      ErrorCode.COMPILE_ERROR,
      /^index\.js: the handler's export "default" is missing \(it exports handler, other\)$/,
    );
    const named = await buildIsolateArtifact(files, 'index.js', { runtime: 'js', exportName: 'handler' });
    assert.equal(load(named).handler?.(), 1);
  });

  it('refuses top-level await in JavaScript too, worded by the source', async () => {
    const files = filesOf({ 'index.js': 'const x = await Promise.resolve(1);\nexport default () => x;' });
    await rejectsWith(
      buildIsolateArtifact(files, 'index.js', { runtime: 'js' }),
      ErrorCode.COMPILE_ERROR,
      /^index\.js:1:11: Top-level await is not supported/,
    );
  });

  it('refuses top-level await, which a classic script cannot run', async () => {
    const files = filesOf({ 'index.ts': 'const x = await Promise.resolve(1);\nexport default () => x;' });
    await rejectsWith(
      buildIsolateArtifact(files, 'index.ts', { runtime: 'ts' }),
      ErrorCode.COMPILE_ERROR,
      /^index\.ts:1:11: Top-level await is not supported/,
    );
  });
});
