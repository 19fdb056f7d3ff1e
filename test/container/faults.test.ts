import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listOwnedContainers } from '../../packages/server/src/runtimes/container/container-labels.ts';
import {
  buildImagesForTests,
  createTestRuntime,
  docker,
  engineSkipReason,
  request,
  type TestRuntime,
} from './support.ts';

const skip = await engineSkipReason();

/** Faults against the real engine; after each, the engine holds only what the runtime tracks. */
describe('container runtime: faults and hardening on the real engine', { skip }, () => {
  let t: TestRuntime;

  before(
    async () => {
      await buildImagesForTests();
      t = await createTestRuntime();
    },
    { timeout: 900_000 },
  );

  after(async () => {
    await t?.close();
  });

  async function assertNoLeak(): Promise<void> {
    assert.equal(
      await t.containerCount(),
      t.runtime.trackedContainers(),
      'containers the runtime does not track',
    );
  }

  it('kills a function at its timeout and records timed_out', async () => {
    const fn = await t.deploy(
      { 'index.js': 'export default async () => { for (;;) {} }' },
      { timeoutMs: 500 },
    );
    await t.runtime.prepare(fn);
    const outcome = await t.runtime.invoke(request(fn, {}));
    assert.equal(outcome.status, 'timed_out');
    assert.equal(t.runtime.stats().byVersion[`${fn.name}:1`], undefined, 'the stuck container is gone');
    await assertNoLeak();
    // The version still works after: a fresh container replaces the killed one.
    const py = await t.deploy(
      { 'main.py': 'import time\ndef handler(event, context):\n    time.sleep(event)\n    return "slept"\n' },
      { runtime: 'python', handler: 'main.handler', timeoutMs: 400 },
    );
    assert.equal((await t.runtime.invoke(request(py, 5))).status, 'timed_out');
    // A cold start counts against the call's 400 ms: the replacement is started first.
    await t.runtime.prepare(py);
    const ok = await t.runtime.invoke(request(py, 0));
    assert.equal(ok.status, 'succeeded');
    await assertNoLeak();
  });

  it('records out_of_memory when a function exceeds its memory limit', async () => {
    const node = await t.deploy(
      {
        'index.js': `const hold = [];
          export default async () => { for (;;) { const b = Buffer.alloc(16 * 1024 * 1024, 1); hold.push(b); } };`,
      },
      { memoryMb: 96 },
    );
    const outcome = await t.runtime.invoke(request(node, {}));
    assert.equal(outcome.status, 'out_of_memory', JSON.stringify(outcome));
    const py = await t.deploy(
      {
        'main.py':
          'hold = []\ndef handler(event, context):\n    while True:\n        hold.append(bytearray(16 * 1024 * 1024))\n',
      },
      { runtime: 'python', handler: 'main.handler', memoryMb: 64 },
    );
    const pyOutcome = await t.runtime.invoke(request(py, {}));
    assert.equal(pyOutcome.status, 'out_of_memory', JSON.stringify(pyOutcome));
    await assertNoLeak();
  });

  it('keeps a fork bomb inside the pids limit', async () => {
    const fn = await t.deploy(
      {
        'main.py': [
          'import os, time',
          'def handler(event, context):',
          '    forked = 0',
          '    try:',
          '        while forked < 100000:',
          '            if os.fork() == 0:',
          '                time.sleep(60)',
          '                os._exit(0)',
          '            forked += 1',
          '    except OSError as err:',
          '        return {"forked": forked, "error": type(err).__name__}',
          '    return {"forked": forked, "error": None}',
        ].join('\n'),
      },
      { runtime: 'python', handler: 'main.handler', timeoutMs: 20_000, memoryMb: 1024 },
    );
    const outcome = await t.runtime.invoke(request(fn, {}));
    assert.equal(outcome.status, 'succeeded', JSON.stringify(outcome));
    assert.ok(outcome.status === 'succeeded');
    const result = outcome.result as { forked: number; error: string | null };
    assert.equal(result.error, 'BlockingIOError');
    assert.ok(result.forked < 256, `forked ${result.forked} processes`);
    await t.runtime.retire(fn.name);
    await assertNoLeak();
  });

  it('gives functions no network and no writable file system outside /tmp', async () => {
    const fn = await t.deploy({
      'index.js': `import { writeFileSync, readFileSync } from 'node:fs';
        const attempt = (f) => { try { f(); return 'ok'; } catch (err) { return err.code; } };
        export default async () => {
          let net;
          try { await fetch('http://1.1.1.1', { signal: AbortSignal.timeout(2000) }); net = 'reached'; }
          catch (err) { net = 'blocked'; }
          return {
            net,
            etc: attempt(() => writeFileSync('/etc/x', '1')),
            code: attempt(() => writeFileSync('/faas/code/x.js', '1')),
            tmp: attempt(() => { writeFileSync('/tmp/x', '1'); readFileSync('/tmp/x'); }),
          };
        };`,
    });
    const outcome = await t.runtime.invoke(request(fn, {}));
    assert.equal(outcome.status, 'succeeded', JSON.stringify(outcome));
    assert.ok(outcome.status === 'succeeded');
    const result = outcome.result as Record<string, string>;
    assert.equal(result.net, 'blocked');
    assert.equal(result.tmp, 'ok');
    assert.ok(['EROFS', 'EACCES'].includes(result.etc ?? ''), `writing /etc: ${result.etc}`);
    assert.ok(['EROFS', 'EACCES'].includes(result.code ?? ''), `writing the code: ${result.code}`);
  });

  it('fails the invocation, not the server, when the function process exits', async () => {
    const fn = await t.deploy({ 'index.js': 'export default async () => { process.exit(3); }' });
    // As a deploy does: on a busy machine a container's start alone can pass the 10 s timeout.
    await t.runtime.prepare(fn);
    const outcome = await t.runtime.invoke(request(fn, {}));
    assert.equal(outcome.status, 'failed', JSON.stringify(outcome));
    assert.ok(outcome.status === 'failed');
    assert.equal(outcome.error.type, 'ProcessExited');
    await assertNoLeak();
  });

  it('honours an abort signal by killing the container', async () => {
    const fn = await t.deploy({ 'index.js': 'export default async () => new Promise(() => {})' });
    const controller = new AbortController();
    const pending = t.runtime.invoke({ ...request(fn, {}), signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    const outcome = await pending;
    assert.equal(outcome.status, 'failed');
    assert.ok(outcome.status === 'failed');
    assert.equal(outcome.error.type, 'Aborted');
    await assertNoLeak();
  });
});

describe('container runtime: a start slower than the call', { skip }, () => {
  it('answers timed_out at the deadline while the container is still loading, and close removes that container', async () => {
    const t = await createTestRuntime();
    try {
      const fn = await t.deploy(
        { 'index.mjs': 'await new Promise(() => {});\nexport default async () => 1;' },
        { timeoutMs: 500 },
      );
      // Before: the call waited for the load's own 30 s limit and failed as LoadTimeout.
      const outcome = await t.runtime.invoke(request(fn, {}));
      assert.equal(outcome.status, 'timed_out', JSON.stringify(outcome));
      assert.ok(outcome.status === 'timed_out');
      assert.match(outcome.error.message, /did not start within 500 ms/);
      assert.equal(
        await t.containerCount(),
        t.runtime.trackedContainers(),
        'the loading container is tracked',
      );
    } finally {
      await t.close();
    }
    assert.deepEqual(await listOwnedContainers(docker, t.runtime.ownerId), [], 'close left a container');
  });
});
