import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, isFaasError } from '@faas/core';
import type { AgentLink } from './agent-link.ts';
import { Instance } from './instance.ts';
import { TEST_SPEC } from './test-spec.ts';

const spec = TEST_SPEC;

/** A running instance whose link keeps what the server sent the agent. */
function running(): { instance: Instance; sent: Buffer[] } {
  const instance = new Instance('inst_test', spec, 'c1', Date.now());
  const sent: Buffer[] = [];
  instance.setLink({ send: (frame: Buffer) => sent.push(frame) } as unknown as AgentLink);
  instance.state = 'running';
  return { instance, sent };
}

const isValidation = (field: string) => (err: unknown) =>
  isFaasError(err) &&
  err.code === ErrorCode.VALIDATION &&
  (err.details as Array<{ field: string }>).some((d) => d.field === field);

describe('Instance processes', () => {
  it('refuses a command, env or cwd the agent could not take whole, and keeps no entry of it', () => {
    const { instance, sent } = running();
    // Reached through the stream's exec, 123 left an entry whose command was no array: every
    // listing of the instance then failed with "entry.command.join is not a function".
    assert.throws(() => instance.start(123 as never), isValidation('command'));
    assert.throws(() => instance.start([]), isValidation('command'));
    assert.throws(() => instance.start(['echo', 'one\u0000two']), isValidation('command[1]'));
    assert.throws(() => instance.start(['pwd'], { cwd: '/tmp\u0000/workspace' }), isValidation('cwd'));
    assert.throws(() => instance.start(['env'], { env: { '1X': '1' } }), isValidation('env.1X'));
    assert.throws(() => instance.start(['env'], { env: { Z: 'a\u0000b' } }), isValidation('env.Z'));
    assert.deepEqual(instance.processes(), []);
    assert.equal(sent.length, 0);
    const started = instance.start(['echo', 'ok'], { env: { A: '1' } });
    assert.deepEqual(
      instance.processes().map((p) => [p.process, p.command]),
      [[started.process, 'echo ok']],
    );
    assert.equal(sent.length, 1);
  });

  it('lists a process whatever its stored command holds (a snapshot of an older server)', () => {
    const { instance } = running();
    instance.adopt([
      { process: 5, command: 123 as never, tty: false },
      { process: 6, command: ['sleep', 9 as never], tty: false },
      { process: 7, command: ['top'], tty: true, main: true },
    ]);
    assert.deepEqual(
      instance.processes().map((p) => p.command),
      ['123', 'sleep 9', 'top'],
    );
  });
});
