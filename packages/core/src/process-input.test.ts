import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from './errors.ts';
import {
  checkProcessInput,
  commandProblems,
  cwdProblems,
  envProblems,
  fileNotWritten,
  filesProblems,
} from './process-input.ts';

const fields = (problems: Array<{ field: string }>) => problems.map((p) => p.field);

describe('process input', () => {
  it('takes a non-empty string or argv of strings, and nothing else', () => {
    for (const ok of ['true', ' ', ['ls'], ['echo', ''], ['sh', '-c', 'echo "$1"', 'sh', 'x']])
      assert.deepEqual(commandProblems(ok), [], JSON.stringify(ok));
    for (const bad of ['', [], [''], null, undefined, 123, {}, [1], ['ls', 2], ['ls', null]])
      assert.ok(commandProblems(bad).length > 0, JSON.stringify(bad));
    assert.deepEqual(fields(commandProblems(['ls', 2, 'x'])), ['command[1]']);
    assert.deepEqual(fields(commandProblems([''])), ['command[0]']);
    assert.deepEqual(commandProblems(123), [
      { field: 'command', message: 'must be a non-empty string or a non-empty array of strings' },
    ]);
    assert.equal(commandProblems(Array.from({ length: 4097 }, () => 'x')).length, 1);
  });

  it('refuses a NUL byte in a command, an env name or value, a working dir', () => {
    assert.deepEqual(commandProblems('pwd\u0000ls'), [
      { field: 'command', message: 'must not hold a NUL byte' },
    ]);
    assert.deepEqual(fields(commandProblems(['echo', 'one\u0000two'])), ['command[1]']);
    assert.deepEqual(fields(envProblems({ A: 'x\u0000y', B: 'ok' })), ['env.A']);
    assert.deepEqual(fields(envProblems({ 'A\u0000B': 'x' })), ['env.A\u0000B']);
    assert.deepEqual(fields(cwdProblems('/tmp\u0000/workspace')), ['cwd']);
  });

  it('takes env names a shell can export, string values, at most 256 of them', () => {
    assert.deepEqual(envProblems(undefined), []);
    assert.deepEqual(envProblems({ A: '1', _b2: '', PATH: '/x' }), []);
    assert.deepEqual(fields(envProblems({ '1X': 'a', 'A-B': 'b', '': 'c', OK: 'd' })), [
      'env.1X',
      'env.A-B',
      'env.',
    ]);
    assert.deepEqual(fields(envProblems({ A: 1 })), ['env.A']);
    assert.deepEqual(fields(envProblems(['A=1'])), ['env']);
    assert.deepEqual(fields(envProblems(null)), ['env']);
    const many = Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`V${i}`, 'x']));
    assert.deepEqual(fields(envProblems(many)), ['env']);
  });

  it('takes a working dir of 1 to 4096 characters', () => {
    assert.deepEqual(cwdProblems(undefined), []);
    assert.deepEqual(cwdProblems('/tmp'), []);
    for (const bad of ['', 5, null, 'x'.repeat(4097)]) assert.deepEqual(fields(cwdProblems(bad)), ['cwd']);
  });

  it('refuses every file path that can be known bad before running', () => {
    const ok = {
      'a.txt': 'x',
      'src/b.ts': 'y',
      '/tmp/c': 'z',
      '.hidden': '',
      'd/..e': '',
      [`${'n'.repeat(255)}`]: '',
    };
    assert.deepEqual(filesProblems(ok, '/workspace'), []);
    for (const bad of [
      '',
      '.',
      '..',
      'a/',
      '/',
      'a/./b',
      '../x',
      'a/../b',
      'a//b',
      'n'.repeat(256),
      'a\u0000b',
    ])
      assert.deepEqual(
        fields(filesProblems({ [bad]: 'x' }, '/workspace')),
        [`files.${bad}`],
        JSON.stringify(bad),
      );
    // 255 bytes is the bound, not 255 characters.
    assert.equal(filesProblems({ [`${'é'.repeat(128)}`]: 'x' }, '/workspace').length, 1);
    assert.deepEqual(fields(filesProblems({ a: 1 }, '/workspace')), ['files.a']);
  });

  it('refuses a path that is a file and a folder of another, or the same file twice', () => {
    assert.deepEqual(fields(filesProblems({ a: 'x', 'a/b': 'y' }, '/workspace')), ['files.a']);
    assert.deepEqual(fields(filesProblems({ 'a/b/c': 'y', a: 'x' }, '/workspace')), ['files.a']);
    assert.deepEqual(fields(filesProblems({ '/workspace/a': 'x', 'a/b': 'y' }, '/workspace')), [
      'files./workspace/a',
    ]);
    assert.deepEqual(fields(filesProblems({ a: 'x', '/workspace/a': 'y' }, '/workspace')), [
      'files./workspace/a',
    ]);
    assert.deepEqual(filesProblems({ a: 'x', ab: 'y', 'b/a': 'z' }, '/workspace'), []);
  });

  it('throws one 422 naming every field, and names a file the sandbox could not write', () => {
    assert.throws(
      () => checkProcessInput({ command: '', env: { '1X': 'a' }, cwd: '' }),
      (err: { code: string; status: number; details: Array<{ field: string }> }) =>
        err.code === ErrorCode.VALIDATION &&
        err.status === 422 &&
        fields(err.details).join() === 'command,env.1X,cwd',
    );
    const refused = fileNotWritten('/etc/x', "can't create /etc/x: Read-only file system");
    assert.equal(refused.status, 422);
    assert.deepEqual(fields(refused.details as Array<{ field: string }>), ['files./etc/x']);
    assert.match(refused.message, /Read-only file system/);
  });
});
