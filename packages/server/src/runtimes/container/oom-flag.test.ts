import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type Docker from 'dockerode';
import { oomKilledAfterExit } from './oom-flag.ts';

/** A container whose engine raises the OOM flag `afterMs` after the first look. */
function engineLateBy(afterMs: number | undefined) {
  let first: number | undefined;
  let looks = 0;
  const container = {
    inspect: async () => {
      looks += 1;
      first ??= performance.now();
      const raised = afterMs !== undefined && performance.now() - first >= afterMs;
      return { State: { OOMKilled: raised } };
    },
  } as unknown as Docker.Container;
  return { container, looks: () => looks };
}

describe('oomKilledAfterExit', () => {
  it('waits for an OOM event that comes well after the exit', async () => {
    const { container } = engineLateBy(600);
    assert.equal(await oomKilledAfterExit(container, { exitCode: 137, killedByPlatform: false }), true);
  });

  it('gives up after its grace when no event comes', async () => {
    const { container } = engineLateBy(undefined);
    const started = performance.now();
    assert.equal(await oomKilledAfterExit(container, { exitCode: 137, killedByPlatform: false }), false);
    const waited = performance.now() - started;
    assert.ok(waited >= 1_900 && waited < 4_000, `waited ${waited} ms`);
  });

  it('looks once for another exit code, or a kill of the platform', async () => {
    for (const exit of [
      { exitCode: 1, killedByPlatform: false },
      { exitCode: undefined, killedByPlatform: false },
      { exitCode: 137, killedByPlatform: true },
    ]) {
      const { container, looks } = engineLateBy(0);
      assert.equal(await oomKilledAfterExit(container, exit), true);
      assert.equal(looks(), 1);
    }
  });

  it('reads a container that is gone as not killed by memory', async () => {
    const gone = {
      inspect: async () => {
        throw new Error('no such container');
      },
    } as unknown as Docker.Container;
    assert.equal(await oomKilledAfterExit(gone, { exitCode: 2, killedByPlatform: false }), false);
  });
});
