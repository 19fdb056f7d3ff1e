import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ErrorCode } from '@faas/core';
import type { RuntimeImageTags } from '../../packages/server/src/runtimes/container/images/build-runtime-images.ts';
import {
  buildImagesForTests,
  createTestRuntime,
  engineSkipReason,
  request,
  type TestRuntime,
} from './support.ts';

const skip = await engineSkipReason();

describe('container runtime: sandboxes and image functions on the real engine', { skip }, () => {
  let t: TestRuntime;
  let images: RuntimeImageTags;

  before(
    async () => {
      images = await buildImagesForTests();
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

  it('runs a command with stdin, env and files in a fresh container', async () => {
    const result = await t.runtime.runInSandbox({
      image: images.python,
      command: [
        'python3',
        '-c',
        'import os,sys; print(sys.stdin.read().upper(), os.environ["WHO"], open("data/in.txt").read(), os.getcwd())',
      ],
      stdin: 'hello',
      env: { WHO: "o'brien" },
      files: { 'data/in.txt': 'file-content' },
    });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stdout, "HELLO o'brien file-content /workspace\n");
    assert.equal(result.timedOut, false);
    assert.equal(result.oomKilled, false);
    // Ephemeral: a second run does not see the first one's files.
    const second = await t.runtime.runInSandbox({ image: images.python, command: ['ls', '/workspace'] });
    assert.equal(second.stdout, '');
    await assertNoLeak();
  });

  it('reports exit codes, timeouts, memory kills and bad commands without hanging', async () => {
    const exit = await t.runtime.runInSandbox({
      image: images.python,
      command: ['sh', '-c', 'echo oops >&2; exit 4'],
    });
    assert.equal(exit.exitCode, 4);
    assert.equal(exit.stderr, 'oops\n');
    const slow = await t.runtime.runInSandbox({
      image: images.python,
      command: ['sleep', '30'],
      timeoutMs: 300,
    });
    assert.equal(slow.timedOut, true);
    const hog = await t.runtime.runInSandbox({
      image: images.python,
      command: ['python3', '-c', 'b = []\nwhile True: b.append(bytearray(8 * 1024 * 1024))'],
      memoryMb: 64,
    });
    assert.equal(hog.oomKilled, true);
    const missing = await t.runtime.runInSandbox({ image: images.python, command: ['no-such-command'] });
    assert.equal(missing.exitCode, 127);
    assert.match(missing.stderr, /not found/);
    const network = await t.runtime.runInSandbox({
      image: images.python,
      command: ['python3', '-c', 'import socket; socket.create_connection(("1.1.1.1", 80), timeout=2)'],
    });
    assert.notEqual(network.exitCode, 0, 'no network by default');
    await assertNoLeak();
  });

  it('rejects an image the engine does not have with a 4xx error', async () => {
    await assert.rejects(
      t.runtime.runInSandbox({ image: 'faas-test/does-not-exist:1', command: ['true'] }),
      (err: { code?: string; status?: number }) => err.code === ErrorCode.BAD_REQUEST && err.status === 400,
    );
    await assertNoLeak();
  });

  it('runs image functions: payload on stdin and FUNCTION_PAYLOAD, result from stdout', async () => {
    const fn = await t.deploy(
      {},
      {
        runtime: 'image',
        handler: '',
        image: images.python,
        command: [
          'python3',
          '-c',
          'import json,os,sys; p=json.load(sys.stdin); print("log line", file=sys.stderr); print(json.dumps({"sum": p["a"] + p["b"], "env": json.loads(os.environ["FUNCTION_PAYLOAD"])["a"]}))',
        ],
      },
    );
    await t.runtime.prepare(fn);
    const logs: string[] = [];
    const outcome = await t.runtime.invoke(request(fn, { a: 2, b: 3 }, logs));
    assert.equal(outcome.status, 'succeeded', JSON.stringify(outcome));
    assert.ok(outcome.status === 'succeeded');
    assert.deepEqual(outcome.result, { sum: 5, env: 2 });
    assert.deepEqual(logs, ['error: log line']);

    const failing = { ...fn, command: ['sh', '-c', 'echo broken >&2; exit 2'] };
    const failed = await t.runtime.invoke(request(failing, {}));
    assert.equal(failed.status, 'failed');
    assert.ok(failed.status === 'failed');
    assert.match(failed.error.message, /code 2: broken/);

    const slow = { ...fn, command: ['sleep', '30'], timeoutMs: 300 };
    assert.equal((await t.runtime.invoke(request(slow, {}))).status, 'timed_out');
    await assertNoLeak();
  });

  it('fails image functions whose image is missing: prepare with COMPILE_ERROR, invoke as failed', async () => {
    const fn = await t.deploy({}, { runtime: 'image', image: 'faas-test/missing:1', command: ['true'] });
    await assert.rejects(
      t.runtime.prepare(fn),
      (err: { code?: string }) => err.code === ErrorCode.COMPILE_ERROR,
    );
    const outcome = await t.runtime.invoke(request(fn, {}));
    assert.equal(outcome.status, 'failed');
    assert.ok(outcome.status === 'failed');
    assert.equal(outcome.error.type, 'ImageNotFound');
  });
});
