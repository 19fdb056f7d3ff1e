import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type ExecuteStreamEvent,
  FaaSClient,
  FaasApiError,
  FaasConnectionError,
  type InstanceEvent,
  type SandboxApi,
} from '@faas/sdk';
import { engineSkipReason } from '../support/engine.ts';
import { ADMIN_KEY, startTestServer, type TestServer, waitFor } from '../support/server.ts';

/** Rejects with a FaasApiError of this status and code. */
async function rejectsWith(promise: Promise<unknown>, status: number, code: string): Promise<void> {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof FaasApiError, `expected a FaasApiError, got ${String(err)}`);
    assert.equal(err.status, status);
    assert.equal(err.code, code);
    return true;
  });
}

const skip = engineSkipReason();

describe('the SDK against the sandbox API', { skip }, () => {
  let s: TestServer;
  let sandboxes: SandboxApi;
  let client: FaaSClient;
  // Everything a test makes, deleted after it even when it fails.
  const instances = new Set<string>();
  const snapshots = new Set<string>();
  const track = <T extends { id: string }>(instance: T): T => {
    instances.add(instance.id);
    return instance;
  };
  const cleanUp = async () => {
    for (const id of snapshots) await sandboxes.deleteSnapshot(id).catch(() => {});
    for (const id of instances) await sandboxes.deleteInstance(id).catch(() => {});
    snapshots.clear();
    instances.clear();
  };

  before(async () => {
    s = await startTestServer();
    client = new FaaSClient({ baseUrl: s.url, apiKey: ADMIN_KEY });
    sandboxes = client.sandboxes;
  });
  after(async () => {
    await cleanUp();
    assert.deepEqual(await s.close(), [], 'the tests left containers behind');
  });

  it('executes a command: output, exit code, cached mode', async () => {
    const run = await sandboxes.execute({
      command: 'cat in.txt; echo "$A" >&2; exit 3',
      files: { 'in.txt': 'from a file\n' },
      env: { A: 'to stderr' },
    });
    assert.deepEqual(
      [run.stdout, run.stderr, run.exit_code, run.mode, run.timed_out],
      ['from a file\n', 'to stderr\n', 3, 'ephemeral', false],
    );
    const request = { command: 'cat /proc/sys/kernel/random/uuid', env: { N: String(Date.now()) } };
    const miss = await sandboxes.executeAdvanced({ ...request, mode: 'cached' });
    const hit = await sandboxes.executeAdvanced({ ...request, mode: 'cached' });
    assert.deepEqual([miss.cache, hit.cache], ['miss', 'hit']);
    assert.equal(hit.stdout, miss.stdout);
  });

  it('streams execute output as it is written, then the exit line', async () => {
    const events: Array<ExecuteStreamEvent & { at: number }> = [];
    const exit = await sandboxes.executeStream(
      { command: 'echo one; sleep 0.5; echo two >&2; exit 4' },
      (event) => events.push({ ...event, at: Date.now() }),
    );
    assert.equal(exit.exit_code, 4);
    assert.deepEqual(
      events.map((e) => [e.type, 'data' in e ? e.data : undefined]),
      [
        ['stdout', 'one\n'],
        ['stderr', 'two\n'],
        ['exit', undefined],
      ],
    );
    const [first, , last] = events as [{ at: number }, unknown, { at: number }];
    assert.ok(last.at - first.at >= 300, 'the first line came before the command ended');
    // An error before any output keeps its status.
    await rejectsWith(
      sandboxes.executeStream({ command: 'true', image: 'faas-test/no-such-image:1' }, () => {}),
      400,
      'FAAS_ERR_BAD_REQUEST',
    );
  });

  it('runs an instance through its lifecycle: exec, stop, start, delete', async () => {
    const instance = track(await sandboxes.createInstance({ env: { GREETING: 'hi' } }));
    assert.equal(instance.status, 'running');
    assert.deepEqual(instance.env, ['GREETING']);
    assert.ok((await sandboxes.listInstances()).some((i) => i.id === instance.id));
    const run = await sandboxes.exec(instance.id, 'echo "$GREETING $B"; pwd; cat; exit 5', {
      env: { B: 'there' },
      stdin: 'in',
    });
    assert.deepEqual([run.stdout, run.exit_code], ['hi there\n/workspace\nin', 5]);
    assert.equal((await sandboxes.exec(instance.id, ['sleep', '5'], { timeout_ms: 200 })).timed_out, true);

    assert.equal((await sandboxes.stopInstance(instance.id)).status, 'stopped');
    await rejectsWith(sandboxes.exec(instance.id, 'true'), 409, 'FAAS_ERR_CONFLICT');
    assert.equal((await sandboxes.startInstance(instance.id)).status, 'running');
    assert.equal((await sandboxes.exec(instance.id, 'echo again')).stdout, 'again\n');

    await sandboxes.deleteInstance(instance.id);
    await rejectsWith(sandboxes.getInstance(instance.id), 404, 'FAAS_ERR_NOT_FOUND');
  });

  it('writes, reads and lists files, text and bytes', async () => {
    const instance = track(await sandboxes.createInstance());
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    assert.deepEqual(await sandboxes.writeFile(instance.id, 'data/all.bin', bytes), {
      path: '/workspace/data/all.bin',
      size: 256,
    });
    await sandboxes.writeFile(instance.id, '/workspace/data/note.txt', 'héllo\n');
    assert.deepEqual(await sandboxes.readFile(instance.id, 'data/all.bin'), bytes);
    assert.equal(new TextDecoder().decode(await sandboxes.readFile(instance.id, 'data/note.txt')), 'héllo\n');
    assert.equal((await sandboxes.exec(instance.id, 'cat data/note.txt')).stdout, 'héllo\n');

    const listing = await sandboxes.listFiles(instance.id, 'data');
    assert.equal(listing.path, '/workspace/data');
    assert.deepEqual(listing.entries.map((e) => [e.name, e.size]).sort(), [
      ['all.bin', 256],
      ['note.txt', 7],
    ]);
    await rejectsWith(sandboxes.readFile(instance.id, 'data'), 400, 'FAAS_ERR_BAD_REQUEST');
    await rejectsWith(sandboxes.listFiles(instance.id, 'data/note.txt'), 400, 'FAAS_ERR_BAD_REQUEST');
    await rejectsWith(sandboxes.readFile(instance.id, 'missing.txt'), 404, 'FAAS_ERR_NOT_FOUND');
  });

  it('streams an instance: a command sent over the socket, its stdout and exit', async () => {
    const instance = track(await sandboxes.createInstance());
    const events: InstanceEvent[] = [];
    type Of<T extends InstanceEvent['type']> = Extract<InstanceEvent, { type: T }>;
    const next = <T extends InstanceEvent['type']>(type: T, match: (e: Of<T>) => boolean = () => true) =>
      waitFor(async () => events.find((e): e is Of<T> => e.type === type && match(e as Of<T>)));
    const stream = sandboxes.stream(instance.id, { onEvent: (e) => events.push(e) });
    // Sent before the socket is open: it waits.
    stream.send({ type: 'exec', command: 'echo one; sleep 0.2; echo two; exit 7' });
    await stream.opened;
    const started = await next('started');
    const exit = await next('exit', (e) => e.process === started.process);
    assert.equal(exit.code, 7);
    const first = events[0];
    assert.equal(first?.type === 'state' && first.instance?.id, instance.id, 'the first event is the state');
    const stdout = events
      .filter((e): e is Of<'stdout' | 'stderr'> => e.type === 'stdout' && e.process === started.process)
      .map((e) => e.data)
      .join('');
    assert.equal(stdout, 'one\ntwo\n');
    stream.send({ type: 'signal', signal: 'SIGNOPE' });
    assert.match((await next('error')).error.message, /SIGNOPE/);
    stream.close();
    assert.equal((await stream.closed).code, 1005);
    assert.throws(() => stream.send({ type: 'get_state' }), FaasConnectionError);
  });

  it('snapshots a gVisor instance, restores it and forks it twice', async () => {
    const counter =
      'i=0; while true; do i=$((i+1)); echo $i > /workspace/count.new; mv /workspace/count.new /workspace/count; sleep 0.05; done';
    const source = track(await sandboxes.createInstance({ isolation: 'gvisor', command: counter }));
    const count = async (id: string) => Number((await sandboxes.exec(id, 'cat /workspace/count')).stdout);
    await waitFor(async () => ((await count(source.id)) >= 5 ? true : undefined));
    const snapshot = await sandboxes.createSnapshot(source.id, 'sdk-test');
    snapshots.add(snapshot.id);
    assert.deepEqual(
      [snapshot.kind, snapshot.name, snapshot.instance_id, snapshot.isolation],
      ['memory', 'sdk-test', source.id, 'gvisor'],
    );
    assert.equal((await sandboxes.getSnapshot(snapshot.id)).id, snapshot.id);
    const listed = await sandboxes.listSnapshots({ instance_id: source.id });
    assert.deepEqual(
      listed.items.map((i) => i.id),
      [snapshot.id],
    );

    const restored = track(await sandboxes.restoreSnapshot(snapshot.id));
    assert.notEqual(restored.id, source.id);
    assert.ok((await count(restored.id)) >= 5, 'the count went on from the snapshot');
    const forks = (await sandboxes.forkSnapshot(snapshot.id, 2)).map(track);
    assert.equal(forks.length, 2);
    const [a, b] = forks as [(typeof forks)[0], (typeof forks)[0]];
    await sandboxes.writeFile(a.id, 'only-a', 'a');
    assert.equal((await sandboxes.exec(b.id, 'test -e only-a')).exit_code, 1, 'forks are independent');

    await sandboxes.deleteSnapshot(snapshot.id);
    snapshots.delete(snapshot.id);
    await rejectsWith(sandboxes.getSnapshot(snapshot.id), 404, 'FAAS_ERR_NOT_FOUND');
    await cleanUp();
  });

  it("has the seed's surface: execute(command, image?), fork(parent, command), for await over stream", async () => {
    const instance = track(await sandboxes.createInstance());
    // The image argument: the base image by its name, as the instance reports it.
    const run = await client.execute(['sh', '-c', 'echo "$0"; exit 2', 'argv'], instance.image);
    assert.deepEqual([run.stdout, run.exit_code], ['argv\n', 2]);
    await rejectsWith(client.execute('true', 'faas-test/no-such-image:1'), 400, 'FAAS_ERR_BAD_REQUEST');
    const parent = await sandboxes.executeAdvanced({
      command: 'echo base > /workspace/state',
      mode: 'checkpointed',
    });
    if (parent.snapshot_id) snapshots.add(parent.snapshot_id);
    assert.ok(parent.execution_id, 'a checkpointed run has an execution id');
    const [a, b] = await Promise.all([
      client.fork(parent.execution_id, 'echo a >> state; cat state'),
      client.fork(parent.execution_id, 'echo b >> state; cat state'),
    ]);
    for (const branch of [a, b]) if (branch.snapshot_id) snapshots.add(branch.snapshot_id);
    assert.deepEqual([a.stdout, b.stdout, a.mode], ['base\na\n', 'base\nb\n', 'branched']);

    const stream = client.stream(instance.id);
    stream.send({ type: 'exec', command: 'echo via-iterator; exit 9' });
    const seen: string[] = [];
    for await (const event of stream) {
      seen.push(event.type);
      if (event.type === 'exit') break;
    }
    assert.equal(seen[0], 'state');
    assert.ok(seen.includes('stdout'));
    // Leaving the loop closed the socket.
    assert.equal((await stream.closed).code, 1005);
    await rejectsWith(
      (async () => {
        for await (const _ of client.stream('inst_unknown')) assert.fail('an event from an unknown instance');
      })(),
      404,
      'FAAS_ERR_NOT_FOUND',
    );
    await cleanUp();
  });

  it('maps failures to FaasApiError and FaasConnectionError', async () => {
    await rejectsWith(sandboxes.getInstance('inst_unknown'), 404, 'FAAS_ERR_NOT_FOUND');
    await rejectsWith(sandboxes.exec('inst_unknown', 'true'), 404, 'FAAS_ERR_NOT_FOUND');
    await rejectsWith(sandboxes.restoreSnapshot('snap_unknown'), 404, 'FAAS_ERR_NOT_FOUND');
    await rejectsWith(sandboxes.createInstance({ isolation: 'kvm' as never }), 422, 'FAAS_ERR_VALIDATION');
    const refused = sandboxes.stream('inst_unknown', { onEvent: () => {} });
    await rejectsWith(refused.opened, 404, 'FAAS_ERR_NOT_FOUND');
    const unauthorized = new FaaSClient({ baseUrl: s.url, apiKey: 'faas_wrong' }).sandboxes;
    await rejectsWith(unauthorized.listInstances(), 401, 'FAAS_ERR_UNAUTHORIZED');
    const down = new FaaSClient({ baseUrl: 'http://127.0.0.1:1' }).sandboxes;
    await assert.rejects(down.execute({ command: 'true' }), FaasConnectionError);
    await assert.rejects(down.stream('inst_x', { onEvent: () => {} }).opened, FaasConnectionError);
  });
});
