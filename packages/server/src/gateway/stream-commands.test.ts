import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type FaasError, isFaasError } from '@faas/core';
import { parseClientCommand } from './stream-commands.ts';

/** The refusal of a message: its code and the fields its details name. */
function refusal(message: unknown): { code: string; fields: string[]; message: string } {
  try {
    parseClientCommand(typeof message === 'string' ? message : JSON.stringify(message));
  } catch (err) {
    assert.ok(isFaasError(err), String(err));
    const details = (err as FaasError).details as Array<{ field: string }> | undefined;
    return { code: err.code, fields: (details ?? []).map((d) => d.field), message: err.message };
  }
  assert.fail(`expected ${JSON.stringify(message)} to be refused`);
}

describe('stream commands', () => {
  it('takes every command the docs list, with defaults filled in', () => {
    const parse = (m: object) => parseClientCommand(JSON.stringify(m));
    assert.deepEqual(parse({ type: 'exec', command: 'ls', env: { A: '1' }, cwd: '/tmp' }), {
      type: 'exec',
      command: 'ls',
      env: { A: '1' },
      cwd: '/tmp',
    });
    assert.deepEqual(parse({ type: 'exec', command: ['sh'], tty: true }), {
      type: 'exec',
      command: ['sh'],
      tty: { rows: 24, cols: 80 },
    });
    assert.deepEqual(parse({ type: 'stdin', data: 'x', process: 7 }), {
      type: 'stdin',
      data: 'x',
      process: 7,
    });
    assert.deepEqual(parse({ type: 'stdin_close' }), { type: 'stdin_close' });
    assert.deepEqual(parse({ type: 'resize', rows: 40, cols: 120 }), { type: 'resize', rows: 40, cols: 120 });
    assert.deepEqual(parse({ type: 'signal' }), { type: 'signal', signal: 15 });
    assert.deepEqual(parse({ type: 'signal', signal: 'SIGINT' }), { type: 'signal', signal: 2 });
    assert.deepEqual(parse({ type: 'signal', signal: 10 }), { type: 'signal', signal: 10 });
    assert.deepEqual(parse({ type: 'checkpoint', name: 'before' }), { type: 'checkpoint', name: 'before' });
    assert.deepEqual(parse({ type: 'checkpoint' }), { type: 'checkpoint' });
    assert.deepEqual(parse({ type: 'get_state' }), { type: 'get_state' });
    assert.deepEqual(parse({ type: 'stop' }), { type: 'stop' });
  });

  it('refuses an exec the REST exec refuses, naming the field, in words of its own', () => {
    for (const [command, field] of [
      [123, 'command'],
      ['', 'command'],
      [[], 'command'],
      [[''], 'command[0]'],
      [{ a: 1 }, 'command'],
      [null, 'command'],
      [['echo', 5], 'command[1]'],
      [['echo', 'one\u0000two'], 'command[1]'],
      ['pwd\u0000ls', 'command'],
    ] as const) {
      const refused = refusal({ type: 'exec', command });
      assert.deepEqual(
        [refused.code, refused.fields],
        ['FAAS_ERR_VALIDATION', [field]],
        JSON.stringify(command),
      );
      assert.doesNotMatch(refused.message, /iterable|undefined|TypeError/);
    }
    assert.deepEqual(refusal({ type: 'exec' }).fields, ['command']);
    assert.deepEqual(
      refusal({ type: 'exec', command: 'ls', env: { '1X': 'a', B: 'x\u0000y', C: 3 } }).fields,
      ['env.1X', 'env.B', 'env.C'],
    );
    assert.deepEqual(refusal({ type: 'exec', command: 'ls', env: 'A=1' }).fields, ['env']);
    for (const cwd of ['', 5, '/tmp\u0000/workspace'])
      assert.deepEqual(refusal({ type: 'exec', command: 'ls', cwd }).fields, ['cwd'], JSON.stringify(cwd));
    assert.deepEqual(refusal({ type: 'exec', command: 'ls', tty: 'yes' }).fields, ['tty']);
    assert.deepEqual(refusal({ type: 'exec', command: 'ls', tty: true, rows: 0, cols: 1e6 }).fields, [
      'rows',
      'cols',
    ]);
    assert.deepEqual(refusal({ type: 'exec', command: 'ls', timeout_ms: 5 }).fields, ['timeout_ms']);
  });

  it('type-checks the fields of every other command', () => {
    assert.deepEqual(refusal({ type: 'checkpoint', name: 123 }).fields, ['name']);
    assert.deepEqual(refusal({ type: 'checkpoint', name: '' }).fields, ['name']);
    assert.deepEqual(refusal({ type: 'checkpoint', name: 'x'.repeat(201) }).fields, ['name']);
    assert.deepEqual(refusal({ type: 'stdin' }).fields, ['data']);
    assert.deepEqual(refusal({ type: 'stdin', data: 5 }).fields, ['data']);
    for (const process of ['1', 1.5, 0, -1, 2 ** 33, null])
      assert.deepEqual(
        refusal({ type: 'stdin_close', process }).fields,
        ['process'],
        JSON.stringify(process),
      );
    assert.deepEqual(refusal({ type: 'resize', rows: 40 }).fields, ['cols']);
    assert.deepEqual(refusal({ type: 'resize', rows: 70_000, cols: 1 }).fields, ['rows']);
    // The agent's frame carries a signal in one byte: 265 would have been sent as 9.
    for (const signal of ['SIGFOO', 0, 65, 265, 1.5, { n: 9 }])
      assert.deepEqual(refusal({ type: 'signal', signal }).fields, ['signal'], JSON.stringify(signal));
    assert.match(refusal({ type: 'signal', signal: 'SIGNOPE' }).message, /not "SIGNOPE"/);
    assert.deepEqual(refusal({ type: 'get_state', extra: 1 }).fields, ['extra']);
    assert.deepEqual(refusal({ type: 'stop', process: 1 }).fields, ['process']);
  });

  it('refuses what is not a command object with a known type', () => {
    assert.equal(refusal('{not json').code, 'FAAS_ERR_INVALID_JSON');
    for (const message of [null, [], '"text"', '42', { command: 'ls' }, { type: 5 }])
      assert.equal(refusal(message).code, 'FAAS_ERR_BAD_REQUEST', JSON.stringify(message));
    assert.match(refusal({ type: 'nonsense' }).message, /Unknown command type "nonsense"/);
  });
});
