import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { buildImagesForTests } from '../container/support.ts';
import { engineSkipReason, ownedContainers } from '../support/engine.ts';
import { startTestServer, type TestServer, waitFor } from '../support/server.ts';

interface ExecuteResponse {
  stdout: string;
  stderr: string;
  exit_code: number;
  duration_ms: number;
  timed_out: boolean;
  oom_killed: boolean;
  truncated: boolean;
  mode: string;
  cache?: string;
}

const skip = engineSkipReason();

describe('execute API', { skip }, () => {
  let s: TestServer;
  const execute = async (body: unknown, path = '/api/v1/execute') => {
    const res = await s.api(path, { method: 'POST', json: body });
    return { status: res.status, body: (await res.json()) as ExecuteResponse & { error?: { code: string } } };
  };

  before(async () => {
    s = await startTestServer();
  });
  after(async () => {
    await s.close();
  });

  it('runs a shell command and answers stdout, stderr and the exit code', async () => {
    const { status, body } = await execute({ command: 'echo out; echo err >&2; exit 3' });
    assert.equal(status, 200);
    assert.equal(body.stdout, 'out\n');
    assert.equal(body.stderr, 'err\n');
    assert.equal(body.exit_code, 3);
    assert.equal(body.timed_out, false);
    assert.equal(body.oom_killed, false);
    assert.equal(body.truncated, false);
    assert.equal(body.mode, 'ephemeral');
    assert.equal(typeof body.duration_ms, 'number');
  });

  it('runs an argv array, feeds stdin, writes files and sets env', async () => {
    const cat = await execute({ command: ['cat'], stdin: 'from stdin' });
    assert.equal(cat.body.stdout, 'from stdin');
    const files = await execute({
      command: 'cat data/in.txt; printf "%s" "$GREETING"',
      files: { 'data/in.txt': 'file content\n' },
      env: { GREETING: "it's here" },
    });
    assert.equal(files.status, 200);
    assert.equal(files.body.stdout, "file content\nit's here");
    assert.equal(files.body.exit_code, 0);
  });

  it('kills a command past timeout_ms (camelCase timeoutMs too)', async () => {
    const snake = await execute({ command: 'sleep 30', timeout_ms: 300 });
    assert.equal(snake.status, 200);
    assert.equal(snake.body.timed_out, true);
    assert.notEqual(snake.body.exit_code, 0);
    const camel = await execute({ command: ['sleep', '30'], timeoutMs: 300 });
    assert.equal(camel.body.timed_out, true);
  });

  it('answers 422 naming the fields of a bad body', async () => {
    const missing = await execute({ image: 'x' });
    assert.equal(missing.status, 422);
    assert.equal(missing.body.error?.code, 'FAAS_ERR_VALIDATION');
    assert.match(JSON.stringify(missing.body), /command/);
    const wrong = await execute({ command: 'true', timeout_ms: -5, bogus: 1 });
    assert.equal(wrong.status, 422);
    assert.match(JSON.stringify(wrong.body), /timeout_ms/);
    assert.match(JSON.stringify(wrong.body), /bogus/);
  });

  it('answers 422 naming image for a name the Engine could not be asked for', async () => {
    for (const image of ['my image', 'faas/base/json?', 'a\nb']) {
      const { status, body } = await execute({ command: 'true', image });
      assert.equal(status, 422, image);
      assert.equal(body.error?.code, 'FAAS_ERR_VALIDATION');
      assert.match(JSON.stringify(body), /"field":"image"/);
    }
  });

  it('answers 422 naming the file for one the sandbox cannot write, in every mode, streaming too', async () => {
    const cases = [
      ['/api/v1/execute', {}],
      ['/api/v1/execute/advanced', { mode: 'cached' }],
      ['/api/v1/execute/advanced', { mode: 'checkpointed' }],
      ['/api/v1/execute/advanced', { mode: 'persistent' }],
      ['/api/v1/execute?stream=true', {}],
      ['/api/v1/execute/stream', {}],
    ] as const;
    for (const [path, mode] of cases) {
      // A read-only place: this answered 503 RUNTIME_UNAVAILABLE ("the sandbox container ended
      // without reporting the exit of the command"), streaming a 200 with stderr first.
      const res = await s.api(path, {
        method: 'POST',
        json: { ...mode, command: 'echo ran', files: { 'ok.txt': 'fine', '/etc/x': 'y' } },
      });
      const text = await res.text();
      assert.equal(res.status, 422, `${path} ${JSON.stringify(mode)}: ${text}`);
      const { error } = JSON.parse(text) as { error: { code: string; details: Array<{ field: string }> } };
      assert.equal(error.code, 'FAAS_ERR_VALIDATION');
      assert.deepEqual(
        error.details.map((d) => d.field),
        ['files./etc/x'],
      );
      assert.match(JSON.stringify(error), /Read-only file system|Permission denied/);
    }
    // Nothing ran, so nothing was cached: the same request, writable, runs.
    const fixed = await execute(
      { command: 'cat ok.txt', mode: 'cached', files: { 'ok.txt': 'fine', '/tmp/x': 'y' } },
      '/api/v1/execute/advanced',
    );
    assert.equal(fixed.status, 200, JSON.stringify(fixed.body));
    assert.equal(fixed.body.stdout, 'fine');
  });

  it('answers 400 for an image the engine does not have', async () => {
    const { status, body } = await execute({ command: 'true', image: 'faas-test/no-such-image:1' });
    assert.equal(status, 400);
    assert.equal(body.error?.code, 'FAAS_ERR_BAD_REQUEST');
  });

  it('checks the advanced fields: unknown modes and isolations 422, a missing parent or checkpoint', async () => {
    const advanced = (body: object) => execute({ command: 'true', ...body }, '/api/v1/execute/advanced');
    assert.equal((await advanced({ mode: 'forked' })).status, 422);
    assert.equal((await advanced({ mode: 'checkpointed', isolation: 'kvm' })).status, 422);
    const noParent = await advanced({ mode: 'branched' });
    assert.equal(noParent.status, 422);
    assert.match(JSON.stringify(noParent.body), /parent/);
    const unknown = await advanced({ mode: 'checkpointed', checkpoint: 'snap_missing' });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error?.code, 'FAAS_ERR_NOT_FOUND');
    const ephemeral = await execute({ command: 'echo x', mode: 'ephemeral' }, '/api/v1/execute/advanced');
    assert.equal(ephemeral.body.stdout, 'x\n');
    assert.equal(ephemeral.body.mode, 'ephemeral');
  });

  it('mounts the shared dependency caches only when asked; they outlive the run and reach instances', async () => {
    const marker = `m-${randomUUID()}`;
    const caches = ['npm', 'pip', 'go', 'cargo'];
    const wrote = await execute({
      command: `echo ${marker} > "$npm_config_cache/${marker}" && touch "$PIP_CACHE_DIR/${marker}" "$GOMODCACHE/${marker}" "$CARGO_HOME/${marker}" && echo "$PIP_CACHE_DIR $GOMODCACHE $CARGO_HOME"`,
      dependency_caches: caches,
    });
    assert.equal(wrote.body.exit_code, 0, wrote.body.stderr);
    assert.equal(wrote.body.stdout, '/cache/pip /cache/go /cache/cargo\n');
    // Another container, later: the volume kept what the first one wrote.
    const read = await execute({ command: `cat "$npm_config_cache/${marker}"`, dependency_caches: ['npm'] });
    assert.equal(read.body.stdout, `${marker}\n`);
    const without = await execute({ command: 'echo "[$npm_config_cache]"; ls /cache' });
    assert.equal(without.body.stdout, '[]\n');
    assert.notEqual(without.body.exit_code, 0, 'no /cache without opting in');
    const instance = await s.api('/api/v1/instances', {
      method: 'POST',
      json: { dependency_caches: ['npm'] },
    });
    const { id, dependency_caches } = (await instance.json()) as { id: string; dependency_caches: string[] };
    assert.deepEqual(dependency_caches, ['npm']);
    const inInstance = await s.api(`/api/v1/instances/${id}/exec`, {
      method: 'POST',
      json: { command: `cat "$npm_config_cache/${marker}"; rm "$npm_config_cache/${marker}"` },
    });
    assert.equal(((await inInstance.json()) as { stdout: string }).stdout, `${marker}\n`);
    assert.equal((await s.api(`/api/v1/instances/${id}`, { method: 'DELETE' })).status, 204);
    await execute({ command: `rm "$PIP_CACHE_DIR/${marker}"`, dependency_caches: ['pip'] });
    const kept = await execute({
      command: `ls "$GOMODCACHE/${marker}" "$CARGO_HOME/${marker}" && rm "$GOMODCACHE/${marker}" "$CARGO_HOME/${marker}"`,
      dependency_caches: ['go', 'cargo'],
    });
    assert.equal(kept.body.exit_code, 0, kept.body.stderr);
    const unknown = await execute({ command: 'true', dependency_caches: ['maven'] });
    assert.equal(unknown.status, 422);
    assert.match(JSON.stringify(unknown.body), /dependency_caches/);
  });

  it('cached mode answers a hit from the store without running the command again', async () => {
    // A fresh uuid per run: equal output on the second call proves nothing ran.
    const body = {
      command: 'cat /proc/sys/kernel/random/uuid',
      mode: 'cached',
      env: { N: String(Date.now()) },
    };
    const miss = await execute(body, '/api/v1/execute/advanced');
    assert.equal(miss.status, 200);
    assert.equal(miss.body.cache, 'miss');
    assert.match(miss.body.stdout, /^[0-9a-f-]{36}\n$/);
    const hit = await execute(body, '/api/v1/execute/advanced');
    assert.equal(hit.body.cache, 'hit');
    assert.equal(hit.body.mode, 'cached');
    assert.equal(hit.body.stdout, miss.body.stdout);
    assert.equal(hit.body.duration_ms, miss.body.duration_ms);
    // Other inputs are another key: it runs, with a new uuid.
    const other = await execute({ ...body, stdin: 'different' }, '/api/v1/execute/advanced');
    assert.equal(other.body.cache, 'miss');
    assert.notEqual(other.body.stdout, miss.body.stdout);
    // The uncached mode always runs.
    const fresh = await execute({ command: body.command, env: body.env });
    assert.notEqual(fresh.body.stdout, miss.body.stdout);
  });

  it('does not cache a run that timed out', async () => {
    const body = { command: `sleep 30 # ${Date.now()}`, mode: 'cached', timeout_ms: 200 };
    const first = await execute(body, '/api/v1/execute/advanced');
    assert.equal(first.body.timed_out, true);
    assert.equal(first.body.cache, 'miss');
    const second = await execute(body, '/api/v1/execute/advanced');
    assert.equal(second.body.cache, 'miss');
  });

  it('does not cache a run its client gave up on', async () => {
    const body = { command: `echo a; sleep 2; echo b # ${randomUUID()}`, mode: 'cached' };
    // The aborted run is counted once it is over (and stored, if it were).
    const misses = async () => {
      const text = await (await s.api('/metrics')).text();
      const line = text
        .split('\n')
        .find((l) => l.startsWith('faas_execute_cache_lookups_total{result="miss"} '));
      return Number(line?.split(' ')[1] ?? 0);
    };
    const missesBefore = await misses();
    const aborter = new AbortController();
    const res = await s.api('/api/v1/execute/advanced?stream=true', {
      method: 'POST',
      json: body,
      signal: aborter.signal,
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    assert.match(new TextDecoder().decode((await reader.read()).value), /"data":"a\\n"/);
    aborter.abort();
    await reader.read().catch(() => {});
    await waitFor(async () => ((await misses()) > missesBefore ? true : undefined), 5000, 'the run ended');
    const again = await execute(body, '/api/v1/execute/advanced');
    assert.equal(again.body.cache, 'miss', JSON.stringify(again.body));
    assert.equal(again.body.exit_code, 0);
    assert.equal(again.body.stdout, 'a\nb\n');
  });

  it('kills the sandbox of a non-streaming run whose client went away', async () => {
    const runtime = s.server.platform.runtimes.all.find((r) => 'sandboxes' in r) as unknown as {
      containers(): { get(isolation: string, role: string): number };
    };
    const busy = () => runtime.containers().get('runc', 'sandbox_busy');
    const aborter = new AbortController();
    const call = s.api('/api/v1/execute', {
      method: 'POST',
      json: { command: 'sleep 60' },
      signal: aborter.signal,
    });
    await waitFor(async () => (busy() === 1 ? true : undefined), 30_000, 'the run started');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    aborter.abort();
    await assert.rejects(call);
    await waitFor(async () => (busy() === 0 ? true : undefined), 5000, 'the sandbox killed');
  });

  it('streams NDJSON lines as output arrives, in order, then the exit', async () => {
    const res = await s.api('/api/v1/execute/stream', {
      method: 'POST',
      json: { command: 'echo one; sleep 1.5; echo two >&2; sleep 0.3; echo three; exit 4' },
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/x-ndjson/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    const first = await reader.read();
    const firstText = decoder.decode(first.value);
    // The first line comes while the command still sleeps: real streaming, not a replay.
    assert.equal(firstText, `${JSON.stringify({ type: 'stdout', data: 'one\n' })}\n`);
    let text = firstText;
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      text += decoder.decode(next.value, { stream: true });
    }
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; data?: string; exit_code?: number });
    const output = lines.filter((l) => l.type !== 'exit').map((l) => `${l.type}:${l.data}`);
    // stdout and stderr are separate pipes: only output separated in time has a defined order.
    assert.deepEqual(output, ['stdout:one\n', 'stderr:two\n', 'stdout:three\n']);
    const exit = lines.at(-1);
    assert.equal(exit?.type, 'exit');
    assert.equal(exit?.exit_code, 4);
  });

  it('?stream=true on /execute streams too, and errors before output keep their status', async () => {
    const res = await s.api('/api/v1/execute?stream=true', { method: 'POST', json: { command: 'echo hi' } });
    assert.equal(res.status, 200);
    const lines = (await res.text()).trim().split('\n');
    assert.deepEqual(JSON.parse(lines[0] ?? ''), { type: 'stdout', data: 'hi\n' });
    assert.equal((JSON.parse(lines.at(-1) ?? '') as { type: string }).type, 'exit');
    const missing = await s.api('/api/v1/execute/stream', {
      method: 'POST',
      json: { command: 'true', image: 'faas-test/no-such-image:1' },
    });
    assert.equal(missing.status, 400);
  });

  it('network: true reaches the public internet: it resolves and fetches from the npm registry', async () => {
    const { node } = await buildImagesForTests();
    // Where egress goes through a TLS-inspecting proxy, its CA comes along as a file.
    const ca = process.env.NODE_EXTRA_CA_CERTS;
    const { status, body } = await execute({
      image: node,
      network: true,
      command: [
        'node',
        '-e',
        "fetch('https://registry.npmjs.org/is-number', { method: 'HEAD' }).then((r) => console.log(r.status))",
      ],
      ...(ca
        ? { files: { 'ca.pem': readFileSync(ca, 'utf8') }, env: { NODE_EXTRA_CA_CERTS: '/workspace/ca.pem' } }
        : {}),
      timeout_ms: 30_000,
    });
    assert.equal(status, 200);
    assert.equal(body.exit_code, 0, body.stderr);
    assert.equal(body.stdout, '200\n');
    // Without network the same command cannot even resolve the name.
    const offline = await execute({ image: node, command: ['getent', 'hosts', 'registry.npmjs.org'] });
    assert.notEqual(offline.body.exit_code, 0);
  });

  it('instances with network join the egress network too; under gVisor their snapshots are of files', async () => {
    for (const isolation of ['runc', 'gvisor']) {
      const created = await s.api('/api/v1/instances', {
        method: 'POST',
        json: { network: true, isolation },
      });
      assert.equal(created.status, 201, await created.clone().text());
      const { id } = (await created.json()) as { id: string };
      const restoredIds: string[] = [];
      try {
        const exec = await s.api(`/api/v1/instances/${id}/exec`, {
          method: 'POST',
          json: { command: 'echo kept > notes.txt; tail -n 1 /etc/hosts | cut -f 1' },
        });
        const address = ((await exec.json()) as { stdout: string }).stdout.trim();
        const network = JSON.parse(
          execFileSync('docker', [
            'network',
            'inspect',
            'faas-egress',
            '--format',
            '{{json .IPAM.Config}}',
          ]).toString(),
        ) as { Subnet: string }[];
        const prefix = network[0]?.Subnet.split('.').slice(0, 2).join('.');
        assert.ok(
          prefix && address.startsWith(`${prefix}.`),
          `${isolation}: ${address} in ${network[0]?.Subnet}`,
        );
        // gVisor cannot checkpoint host-kernel sockets: the snapshot is the files, and it restores.
        const snapshot = await s.api('/api/v1/snapshots', { method: 'POST', json: { instance_id: id } });
        assert.equal(snapshot.status, 201, await snapshot.clone().text());
        const { id: snapshotId, kind } = (await snapshot.json()) as { id: string; kind: string };
        assert.equal(kind, 'filesystem');
        const restored = await s.api(`/api/v1/snapshots/${snapshotId}/restore`, { method: 'POST', json: {} });
        assert.equal(restored.status, 201, await restored.clone().text());
        const restoredId = ((await restored.json()) as { id: string }).id;
        restoredIds.push(restoredId);
        const read = await s.api(`/api/v1/instances/${restoredId}/exec`, {
          method: 'POST',
          json: { command: 'cat notes.txt' },
        });
        assert.equal(((await read.json()) as { stdout: string }).stdout, 'kept\n');
      } finally {
        for (const instance of [id, ...restoredIds])
          await s.api(`/api/v1/instances/${instance}`, { method: 'DELETE' });
      }
    }
  });

  it('honours isolation in ephemeral and cached runs, and every limit is part of the cache key', async () => {
    const kernel = async (isolation: string, mode = 'ephemeral', extra = {}) =>
      execute(
        { command: 'uname -r; cat /proc/sys/kernel/random/uuid', mode, isolation, ...extra },
        '/api/v1/execute/advanced',
      );
    const runc = await kernel('runc');
    const gvisor = await kernel('gvisor');
    assert.equal(gvisor.status, 200);
    // gVisor answers its own kernel version, not the host's.
    assert.notEqual(gvisor.body.stdout.split('\n')[0], runc.body.stdout.split('\n')[0]);
    const env = { N: randomUUID() };
    const first = await kernel('runc', 'cached', { env });
    assert.equal(first.body.cache, 'miss');
    assert.equal((await kernel('runc', 'cached', { env })).body.cache, 'hit');
    for (const [isolation, extra] of [
      ['gvisor', {}],
      ['runc', { memory_mb: 300 }],
      ['runc', { cpus: 0.5 }],
      ['runc', { timeout_ms: 20_000 }],
      ['runc', { network: true }],
      ['runc', { dependency_caches: ['npm'] }],
    ] as const) {
      const other = await kernel(isolation, 'cached', { env, ...extra });
      assert.equal(other.status, 200, JSON.stringify(other.body));
      assert.equal(other.body.cache, 'miss', JSON.stringify({ isolation, extra }));
      assert.notEqual(other.body.stdout, first.body.stdout);
    }
    // The defaults spelled out are the same key as leaving them out.
    const spelled = await kernel('runc', 'cached', {
      env,
      memory_mb: 256,
      cpus: 1,
      timeout_ms: 30_000,
      network: false,
    });
    assert.equal(spelled.body.cache, 'hit');
  });

  it('answers 422, not a 5xx, for more cpus than the host has', async () => {
    const { status, body } = await execute({ command: 'true', cpus: availableParallelism() + 1 });
    assert.equal(status, 422, JSON.stringify(body));
    assert.match(body.error?.code ?? '', /VALIDATION/);
  });

  it('leaves no containers behind: only the pool spares, and none after close', async () => {
    await Promise.all(Array.from({ length: 4 }, () => execute({ command: 'true' })));
    // Used containers are removed in the background; each pool in use keeps its spares.
    const runtime = s.server.platform.runtimes.all.find((r) => 'sandboxes' in r) as unknown as {
      trackedContainers(): number;
      settled(): Promise<void>;
    };
    await runtime.settled();
    assert.equal(ownedContainers(s.dataDir).length, runtime.trackedContainers());
    const other = await startTestServer();
    const ran = await other.api('/api/v1/execute', { method: 'POST', json: { command: 'true' } });
    assert.equal(ran.status, 200);
    assert.ok(ownedContainers(other.dataDir).length >= 1, 'the second server holds spares');
    assert.deepEqual(await other.close(), [], 'the server removed its spares at close');
  });
});

describe('execute API without an engine', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ dockerHost: 'unix:///nonexistent.sock' });
  });
  after(() => s.close());

  it('answers 503 RUNTIME_UNAVAILABLE with the runtime reason', async () => {
    for (const [path, mode] of [
      ['/api/v1/execute', undefined],
      ['/api/v1/execute/advanced', 'cached'],
      ['/api/v1/execute/stream', undefined],
    ] as const) {
      const res = await s.api(path, { method: 'POST', json: { command: 'true', ...(mode ? { mode } : {}) } });
      assert.equal(res.status, 503, path);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'FAAS_ERR_RUNTIME_UNAVAILABLE');
      assert.match(body.error.message, /Docker Engine/);
    }
  });

  it('answers 422 naming the field for input no sandbox could take, before an engine is asked', async () => {
    const refused = async (path: string, json: object, field: string) => {
      const res = await s.api(path, { method: 'POST', json });
      const body = (await res.json()) as { error: { code: string; details?: Array<{ field: string }> } };
      const what = `${path} ${JSON.stringify(json)}: ${JSON.stringify(body)}`;
      assert.equal(res.status, 422, what);
      assert.equal(body.error.code, 'FAAS_ERR_VALIDATION', what);
      assert.ok(
        body.error.details?.some((d) => d.field === field),
        `${what} names ${field}`,
      );
    };
    const runs = [
      ['/api/v1/execute', {}],
      ['/api/v1/execute/stream', {}],
      ['/api/v1/execute/advanced', { mode: 'cached' }],
      ['/api/v1/execute/advanced', { mode: 'checkpointed' }],
      ['/api/v1/execute/advanced', { mode: 'persistent' }],
    ] as const;
    for (const [path, mode] of runs) {
      // Empty commands ran as `: not found` (exit 127); a persistent one made an instance with no process.
      for (const command of ['', null]) await refused(path, { ...mode, command }, 'command');
      for (const command of [[''], ['', 'x']]) await refused(path, { ...mode, command }, 'command[0]');
      // A NUL was dropped by the shell ("a\0b" ran as "ab").
      await refused(path, { ...mode, command: 'echo a\u0000b' }, 'command');
      await refused(path, { ...mode, command: ['echo', 'one\u0000two'] }, 'command[1]');
      await refused(path, { ...mode, command: 'true', env: { A: 'x\u0000y' } }, 'env.A');
      await refused(path, { ...mode, command: 'true', env: { '1X': 'a' } }, 'env.1X');
      // Paths that can never name a file: each answered 503 "the sandbox container ended…".
      for (const name of ['', '.', '..', 'a/', 'a//b', 'x/../y', 'a\u0000b', 'n'.repeat(300)])
        await refused(path, { ...mode, command: 'ls', files: { [name]: 'y' } }, `files.${name}`);
      await refused(path, { ...mode, command: 'ls', files: { a: 'x', 'a/b': 'y' } }, 'files.a');
    }
    // Instances: an omitted command is an instance waiting for exec; an empty one is refused.
    for (const command of ['', null]) await refused('/api/v1/instances', { command }, 'command');
    for (const command of [[''], ['', 'x']]) await refused('/api/v1/instances', { command }, 'command[0]');
    await refused('/api/v1/instances', { command: 'sleep 1\u00001' }, 'command');
    // An invalid name was made and silently dropped; /execute refused it already.
    await refused('/api/v1/instances', { env: { '1X': 'a' } }, 'env.1X');
    await refused('/api/v1/instances', { env: { A: 'x\u0000y' } }, 'env.A');
  });
});
