import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import type Docker from 'dockerode';
import type { ContainerLimits } from '../container-limits.ts';
import { SandboxContainer } from './sandbox-container.ts';

const limits: ContainerLimits = { memoryMb: 64, cpus: 1, network: false, isolation: 'runc' };

describe('SandboxContainer', () => {
  it('answers a run killed at its deadline even when the engine never reports the exit', async () => {
    const calls: string[] = [];
    // An engine that takes the kill and then hangs: the container never stops running.
    const container = {
      wait: () => new Promise(() => {}),
      kill: async () => {
        calls.push('kill');
      },
      inspect: async () => ({ State: { Paused: false } }),
      remove: async (options: { force?: boolean }) => {
        calls.push(`remove force=${options.force}`);
      },
      unpause: async () => {},
    };
    const docker = { getContainer: () => container } as unknown as Docker;
    const stream = new Duplex({
      read() {},
      write(_chunk, _encoding, callback) {
        callback();
      },
    });
    const make = SandboxContainer as unknown as new (
      docker: Docker,
      id: string,
      stream: Duplex,
      limits: ContainerLimits,
    ) => SandboxContainer;
    const sandbox = new make(docker, 'c1', stream, limits);
    const run = await sandbox.run({
      line: 'job\n',
      exitMarker: 'marker',
      limits,
      timeoutMs: 50,
      maxOutputBytes: 1024,
    });
    assert.equal(run.timedOut, true);
    assert.equal(run.exitCode, 137);
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(calls.includes('kill'), calls.join());
    assert.ok(calls.includes('remove force=true'), calls.join());
  });
});
