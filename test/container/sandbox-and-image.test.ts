import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ErrorCode } from '@faas/core';
import { pack } from 'tar-stream';
import type { RuntimeImageTags } from '../../packages/server/src/runtimes/container/images/build-runtime-images.ts';
import {
  buildImagesForTests,
  createTestRuntime,
  engineSkipReason,
  request,
  type TestRuntime,
} from './support.ts';

const skip = await engineSkipReason();

/** An image of one static program on PATH and nothing else: no shell, no tools. */
async function imageWithoutShell(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'faas-noshell-'));
  try {
    await writeFile(
      join(dir, 'hello.c'),
      '#include <stdio.h>\nint main(int c, char **v) { printf("own tool: %s", v[0]); for (int i = 1; i < c; i++) printf("|%s", v[i]); printf("\\n"); return 0; }\n',
    );
    execFileSync('gcc', ['-static', '-O1', '-o', join(dir, 'hello'), join(dir, 'hello.c')]);
    const tar = pack();
    tar.entry({ name: 'usr/local/bin/faas-hello', mode: 0o755 }, execFileSync('cat', [join(dir, 'hello')]));
    tar.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of tar) chunks.push(chunk as Buffer);
    const tag = `faas-test/noshell:${process.pid}`;
    execFileSync('docker', ['import', '--change', 'ENV PATH=/usr/local/bin:/usr/bin:/bin', '-', tag], {
      input: Buffer.concat(chunks),
    });
    return tag;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

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
    assert.equal(hog.oomKilled, true, JSON.stringify(hog));
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

  it('runs the command in a live container when the pre-started spares died', async () => {
    const run = () => t.runtime.runInSandbox({ image: images.python, command: 'echo hi' });
    assert.equal((await run()).stdout, 'hi\n');
    await t.runtime.settled();
    const spares = execFileSync('docker', [
      'ps',
      '-q',
      '--filter',
      `label=faas.owner=${t.runtime.ownerId}`,
      '--filter',
      'label=faas.role=sandbox',
    ])
      .toString()
      .split('\n')
      .filter(Boolean);
    assert.ok(spares.length > 0, 'spares to kill');
    execFileSync('docker', ['kill', ...spares]);
    const result = await run();
    assert.equal(result.exitCode, 0, JSON.stringify(result));
    assert.equal(result.stdout, 'hi\n');
    await t.runtime.settled();
    await assertNoLeak();
  });

  it("runs the image's own tools: GNU sed answers `sed --version`, a string runs with /bin/sh", async () => {
    for (const command of [['sed', '--version'], 'sed --version']) {
      const run = await t.runtime.runInSandbox({ image: images.base, command });
      assert.equal(run.exitCode, 0, run.stderr);
      assert.match(run.stdout, /^sed \(GNU sed\) /, JSON.stringify(command));
    }
    const shell = await t.runtime.runInSandbox({
      image: images.base,
      command: 'echo "$0"; readlink -f /proc/$$/exe',
    });
    assert.equal(shell.stdout, '/bin/sh\n/usr/bin/dash\n');
    await assertNoLeak();
  });

  it('runs an argv in an image without a shell: its own program, else the BusyBox applet', async () => {
    const image = await imageWithoutShell();
    try {
      const own = await t.runtime.runInSandbox({ image, command: ['faas-hello', 'a b', 'c'] });
      assert.equal(own.exitCode, 0, own.stderr);
      assert.equal(own.stdout, 'own tool: faas-hello|a b|c\n');
      const applet = await t.runtime.runInSandbox({ image, command: ['echo', 'from', 'busybox'] });
      assert.equal(applet.stdout, 'from busybox\n');
      const string = await t.runtime.runInSandbox({ image, command: 'faas-hello x | tr a-z A-Z' });
      assert.equal(string.stdout, 'OWN TOOL: FAAS-HELLO|X\n');
      const missing = await t.runtime.runInSandbox({ image, command: ['no-such-tool'] });
      assert.equal(missing.exitCode, 127);
      assert.equal(missing.stderr, 'no-such-tool: not found\n');
      await assertNoLeak();
    } finally {
      // The image's spares go first: an image in use cannot be removed.
      t.runtime.sandboxes.sweepIdle(Date.now() + 1);
      await t.runtime.sandboxes.settled();
      execFileSync('docker', ['rmi', '-f', image], { stdio: 'ignore' });
    }
  });

  it('is not ended or confused by output that looks like the exit marker', async () => {
    // A made-up nonce: output, like any other.
    const fake = await t.runtime.runInSandbox({
      image: images.base,
      command: [
        'sh',
        '-c',
        "printf '\\036faas-exit-00000000000000000000000000000000:0\\n'; printf '\\036faas-exit-'; echo after; exit 5",
      ],
    });
    assert.equal(fake.exitCode, 5);
    assert.equal(fake.stdout, '\x1efaas-exit-00000000000000000000000000000000:0\n\x1efaas-exit-after\n');
    // The real nonce, read from the shim's memory (same uid): claiming 137 (which waits for the
    // engine's OOM flag) and going on running must not hold the run past its deadline.
    const forged = await t.runtime.runInSandbox({
      image: images.python,
      timeoutMs: 3000,
      command: [
        'python3',
        '-c',
        `import os, re, sys, time
ppid = os.getppid()
found = None
with open(f'/proc/{ppid}/maps') as maps, open(f'/proc/{ppid}/mem', 'rb') as mem:
    for line in maps:
        start, end = (int(x, 16) for x in line.split()[0].split('-'))
        if 'r' not in line.split()[1]: continue
        try:
            mem.seek(start); chunk = mem.read(end - start)
        except OSError: continue
        m = re.search(rb'\\x1efaas-exit-[0-9a-f]{32}:', chunk)
        if m: found = m.group(0); break
if found is None: sys.exit(3)
for stream in (sys.stdout.buffer, sys.stderr.buffer):
    stream.write(found + b'137\\n'); stream.flush()
time.sleep(60)`,
      ],
    });
    assert.equal(forged.timedOut, true, JSON.stringify(forged));
    assert.equal(forged.exitCode, 137, 'killed at the deadline');
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

    // A string command runs with the image's sh, as everywhere else: shell syntax works.
    const shell = { ...fn, command: 'read -r p; echo "{\\"got\\": $p, \\"sh\\": \\"$0\\"}" | tr a-z A-Z' };
    const shellOutcome = await t.runtime.invoke(request(shell, { a: 1 }));
    assert.equal(shellOutcome.status, 'succeeded', JSON.stringify(shellOutcome));
    assert.ok(shellOutcome.status === 'succeeded');
    assert.deepEqual(shellOutcome.result, { GOT: { A: 1 }, SH: '/BIN/SH' });

    const failing = { ...fn, command: ['sh', '-c', 'echo broken >&2; exit 2'] };
    const failed = await t.runtime.invoke(request(failing, {}));
    assert.equal(failed.status, 'failed');
    assert.ok(failed.status === 'failed');
    assert.match(failed.error.message, /code 2: broken/);

    const slow = { ...fn, command: ['sleep', '30'], timeoutMs: 300 };
    assert.equal((await t.runtime.invoke(request(slow, {}))).status, 'timed_out');
    await assertNoLeak();
  });

  it("gives image functions the call's trace context in TRACEPARENT, over their env's own", async () => {
    const fn = await t.deploy(
      {},
      {
        runtime: 'image',
        handler: '',
        image: images.python,
        env: { TRACEPARENT: 'set-by-the-function' },
        command: ['python3', '-c', 'import json,os; print(json.dumps(os.environ.get("TRACEPARENT")))'],
      },
    );
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const traced = await t.runtime.invoke({
      ...request(fn, {}),
      trace: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', traceparent },
    });
    assert.ok(traced.status === 'succeeded', JSON.stringify(traced));
    assert.equal(traced.result, traceparent);
    const untraced = await t.runtime.invoke(request(fn, {}));
    assert.ok(untraced.status === 'succeeded', JSON.stringify(untraced));
    assert.equal(untraced.result, 'set-by-the-function');
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
