import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { containerStates, engineSkipReason, ownedContainers, removeContainers } from '../support/engine.ts';
import {
  ADMIN_KEY,
  request,
  spawnServer,
  startTestServer,
  type TestServer,
  tempDataDir,
  waitFor,
} from '../support/server.ts';

/** Waits until the check is true (waitFor waits for a defined value). */
function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<true> {
  return waitFor(async () => ((await check()) ? true : undefined), timeoutMs, what);
}

interface InstanceBody {
  id: string;
  status: string;
  isolation: string;
  processes: Array<{ process: number; pid?: number; command: string }>;
  error?: { code: string; message: string };
}

interface StreamEvent {
  type: string;
  seq?: number;
  data?: string;
  code?: number;
  process?: number;
  path?: string;
  event?: string;
  name?: string;
  [key: string]: unknown;
}

/** A WebSocket client that keeps every event it receives, for awaiting ones that match. */
class StreamClient {
  readonly events: StreamEvent[] = [];
  readonly socket: WebSocket;
  readonly opened: Promise<void>;

  constructor(url: string) {
    this.socket = new WebSocket(url, { headers: { authorization: `Bearer ${ADMIN_KEY}` } } as never);
    this.socket.addEventListener('message', (message) => this.events.push(JSON.parse(String(message.data))));
    this.opened = new Promise((resolve, reject) => {
      this.socket.addEventListener('open', () => resolve());
      this.socket.addEventListener('error', () => reject(new Error('WebSocket failed')));
    });
  }

  send(command: object): void {
    this.socket.send(JSON.stringify(command));
  }

  async next(match: (event: StreamEvent) => boolean, timeoutMs = 20_000): Promise<StreamEvent> {
    await eventually(() => this.events.some(match), timeoutMs, 'a stream event');
    return this.events.find(match) as StreamEvent;
  }

  stdout(process: number): string {
    return this.events
      .filter((e) => e.type === 'stdout' && e.process === process)
      .map((e) => e.data)
      .join('');
  }

  close(): void {
    this.socket.close();
  }
}

const skip = engineSkipReason();

describe('instances', { skip }, () => {
  let s: TestServer;
  const api = async <T = InstanceBody>(path: string, init: RequestInit & { json?: unknown } = {}) => {
    const res = await s.api(`/api/v1${path}`, init);
    const text = await res.text();
    return {
      status: res.status,
      body: (text ? JSON.parse(text) : undefined) as T & { error?: { code: string } },
    };
  };
  const create = async (json: object = {}) => {
    const res = await api('/instances', { method: 'POST', json });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  };
  const exec = (id: string, json: object) =>
    api<{ stdout: string; stderr: string; exit_code: number; timed_out: boolean }>(`/instances/${id}/exec`, {
      method: 'POST',
      json,
    });
  const stream = async (id: string) => {
    const client = new StreamClient(
      `${s.url.replace('http', 'ws')}/api/v1/instances/${id}/stream?heartbeat_ms=200`,
    );
    await client.opened;
    await client.next((e) => e.type === 'state');
    return client;
  };

  /** A files snapshot whose instance is deleted: a restore or fork of it makes the only instances. */
  const snapshotOfGone = async () => {
    const instance = await create();
    const snap = await api<{ id: string }>('/snapshots', {
      method: 'POST',
      json: { instance_id: instance.id },
    });
    assert.equal(snap.status, 201);
    await api(`/instances/${instance.id}`, { method: 'DELETE' });
    return snap;
  };

  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it('runs commands in a live instance: stdout, stderr, stdin, exit code, env, cwd', async () => {
    const instance = await create({ env: { GREETING: 'hi' } });
    assert.equal(instance.status, 'running');
    const run = await exec(instance.id, {
      command: 'echo "$GREETING"; pwd; echo oops >&2; cat; exit 4',
      stdin: 'in',
    });
    assert.equal(run.status, 200);
    assert.deepEqual(
      [run.body.stdout, run.body.stderr, run.body.exit_code, run.body.timed_out],
      ['hi\n/workspace\nin', 'oops\n', 4, false],
    );
    // State persists between execs: the same container.
    await exec(instance.id, { command: 'echo kept > note.txt' });
    assert.equal(
      (await exec(instance.id, { command: ['cat', '/workspace/note.txt'] })).body.stdout,
      'kept\n',
    );
    const slow = await exec(instance.id, { command: 'sleep 30', timeout_ms: 300 });
    assert.equal(slow.body.timed_out, true);
    assert.equal(slow.body.exit_code, 137);
    // A client that goes away takes its command with it.
    const aborter = new AbortController();
    const abandoned = s
      .api(`/api/v1/instances/${instance.id}/exec`, {
        method: 'POST',
        json: { command: 'sleep 30' },
        signal: aborter.signal,
      })
      .catch(() => undefined);
    const running = async () => (await api(`/instances/${instance.id}`)).body.processes.length;
    await eventually(async () => (await running()) === 1, 10_000, 'the exec to start');
    aborter.abort();
    await abandoned;
    await eventually(async () => (await running()) === 0, 10_000, 'the abandoned exec to be killed');

    const listed = await api<{ items: InstanceBody[] }>('/instances');
    assert.ok(listed.body.items.some((i) => i.id === instance.id));
    assert.equal((await api(`/instances/${instance.id}`)).body.status, 'running');
    assert.equal((await api(`/instances/${instance.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await api(`/instances/${instance.id}`)).status, 404);
  });

  it('answers bad input with the right status and code', async () => {
    const badIsolation = await api('/instances', { method: 'POST', json: { isolation: 'kvm' } });
    assert.equal(badIsolation.status, 422);
    const unknownField = await api('/instances', { method: 'POST', json: { memory: 5 } });
    assert.equal(unknownField.status, 422);
    const missingImage = await api('/instances', { method: 'POST', json: { image: 'faas/none:missing' } });
    assert.equal(missingImage.status, 400);
    assert.match(missingImage.body.error?.code ?? '', /BAD_REQUEST/);
    assert.equal((await exec('inst_unknown', { command: 'true' })).status, 404);
    assert.equal((await api('/instances/inst_unknown/stop', { method: 'POST' })).status, 404);
    const instance = await create();
    assert.equal((await exec(instance.id, {})).status, 422);
    const missingFile = await api(`/instances/${instance.id}/files?path=nothing/here`);
    assert.equal(missingFile.status, 404);
    const readOnly = await s.api(`/api/v1/instances/${instance.id}/files?path=/etc/x`, {
      method: 'PUT',
      body: 'x',
    });
    assert.equal(readOnly.status, 400);
    // What no process could start with: 422 naming the field. An empty command ran as exit 127;
    // a NUL moved what followed into another field (cwd "/tmp\0/workspace" ran "/workspace").
    for (const [json, field] of [
      [{ command: '' }, 'command'],
      [{ command: ['', 'x'] }, 'command[0]'],
      [{ command: 'pwd; printenv', cwd: '/tmp\u0000/workspace' }, 'cwd'],
      [{ command: ['echo', 'one\u0000two'], env: { Z: '1' } }, 'command[1]'],
      [{ command: 'printenv', env: { Z: 'a\u0000b' } }, 'env.Z'],
      [{ command: 'printenv', env: { '1X': '1' } }, 'env.1X'],
    ] as const) {
      const refused = await exec(instance.id, json);
      assert.equal(refused.status, 422, JSON.stringify(json));
      const details = (refused.body.error as unknown as { details: Array<{ field: string }> }).details;
      assert.deepEqual(
        details.map((d) => d.field),
        [field],
      );
    }
    const unknownCommand = await exec(instance.id, { command: ['no-such-binary'] });
    assert.equal(unknownCommand.body.exit_code, 127);
    assert.match(unknownCommand.body.stderr, /no-such-binary/);
    await api(`/instances/${instance.id}/stop`, { method: 'POST' });
    const onStopped = await exec(instance.id, { command: 'true' });
    assert.equal(onStopped.status, 409);
    const snapStopped = await api('/snapshots', { method: 'POST', json: { instance_id: instance.id } });
    assert.equal(snapStopped.status, 409);
    const snapUnknown = await api('/snapshots', { method: 'POST', json: { instance_id: 'inst_unknown' } });
    assert.equal(snapUnknown.status, 404);
    assert.equal((await api('/snapshots', { method: 'POST', json: {} })).status, 422);
    assert.equal((await api('/snapshots/snap_unknown')).status, 404);
    assert.equal((await api('/snapshots/snap_unknown', { method: 'DELETE' })).status, 404);
    for (const count of [0, 17]) {
      const fork = await api('/snapshots/snap_unknown/fork', { method: 'POST', json: { count } });
      assert.equal(fork.status, 422, `fork count ${count}`);
    }
    await api(`/instances/${instance.id}`, { method: 'DELETE' });
  });

  it('moves files in and out: single files, listings and tar streams', async () => {
    const instance = await create();
    const put = await s.api(`/api/v1/instances/${instance.id}/files?path=src/app.txt`, {
      method: 'PUT',
      body: new Uint8Array([0, 1, 2, 255]),
    });
    assert.equal(put.status, 201);
    const got = await s.api(`/api/v1/instances/${instance.id}/files?path=/workspace/src/app.txt`);
    assert.deepEqual(new Uint8Array(await got.arrayBuffer()), new Uint8Array([0, 1, 2, 255]));
    const listing = await api<{ entries: Array<{ name: string; type: string; size: number }> }>(
      `/instances/${instance.id}/files?path=src`,
    );
    assert.deepEqual(
      listing.body.entries.map((e) => [e.name, e.type, e.size]),
      [['app.txt', 'file', 4]],
    );
    // A name with a newline would read as a line of its own, with a time no date holds.
    assert.equal(
      (await exec(instance.id, { command: 'touch "src/$(printf \'a\\nx|1|y|z\')"' })).body.exit_code,
      0,
    );
    const odd = await api<{ entries: Array<{ name: string }> }>(`/instances/${instance.id}/files?path=src`);
    assert.equal(odd.status, 200, JSON.stringify(odd.body));
    assert.deepEqual(
      odd.body.entries.map((e) => e.name),
      ['app.txt'],
    );
    await exec(instance.id, { command: 'rm src/a*z' });
    const tar = await s.api(`/api/v1/instances/${instance.id}/files/tar?path=src`);
    assert.equal(tar.headers.get('content-type'), 'application/x-tar');
    const other = await create();
    const untar = await s.api(`/api/v1/instances/${other.id}/files/tar?path=copy`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-tar' },
      body: new Uint8Array(await tar.arrayBuffer()),
    });
    assert.equal(untar.status, 200);
    assert.equal(
      (await exec(other.id, { command: 'od -An -tu1 copy/app.txt | tr -s " "' })).body.stdout,
      ' 0 1 2 255\n',
    );
    await api(`/instances/${instance.id}`, { method: 'DELETE' });
    await api(`/instances/${other.id}`, { method: 'DELETE' });
  });

  it('streams output in order, round-trips stdin, and reports file, process and custom events', async () => {
    const instance = await create();
    const client = await stream(instance.id);
    client.send({ type: 'exec', command: 'seq 1 20000' });
    const started = await client.next((e) => e.type === 'started');
    const exit = await client.next((e) => e.type === 'exit' && e.process === started.process);
    assert.equal(exit.code, 0);
    const expected = `${Array.from({ length: 20000 }, (_, i) => i + 1).join('\n')}\n`;
    assert.equal(client.stdout(started.process as number), expected);
    const seqs = client.events.map((e) => e.seq).filter((n) => n !== undefined) as number[];
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
    );
    assert.ok(client.events.some((e) => e.type === 'process_event' && e.event === 'start' && e.pid));

    client.send({ type: 'exec', command: ['cat'] });
    const cat = await client.next((e) => e.type === 'started' && e.process !== started.process);
    client.send({ type: 'stdin', data: 'round trip\n' });
    await eventually(() => client.stdout(cat.process as number) === 'round trip\n', 10_000);
    client.send({ type: 'stdin_close' });
    await client.next((e) => e.type === 'exit' && e.process === cat.process);

    await exec(instance.id, {
      command: `echo one > made.txt; sleep 0.1; echo two >> made.txt; echo '{"name":"metrics","data":{"loss":0.5}}' > "$FAAS_EVENTS"`,
    });
    await client.next(
      (e) => e.type === 'file_event' && e.path === '/workspace/made.txt' && e.event === 'created',
    );
    await eventually(
      () =>
        client.events.filter(
          (e) => e.type === 'file_event' && e.path === '/workspace/made.txt' && e.event === 'modified',
        ).length >= 2,
      10_000,
    );
    const custom = await client.next((e) => e.type === 'custom');
    assert.deepEqual([custom.name, custom.data], ['metrics', { loss: 0.5 }]);
    await client.next((e) => e.type === 'heartbeat');

    client.send({ type: 'get_state' });
    const state = await client.next(
      (e) => e.type === 'state' && e.instance !== undefined && e !== client.events[0],
    );
    assert.equal(state.state, 'running');
    client.send({ type: 'nonsense' });
    const error = await client.next((e) => e.type === 'error');
    assert.match(String((error.error as { message: string }).message), /nonsense/);
    client.send({ type: 'stdin', process: 424242, data: 'x' });
    const noProcess = await client.next(
      (e) => e.type === 'error' && /424242/.test(String((e.error as { message: string }).message)),
    );
    assert.match(String((noProcess.error as { message: string }).message), /No running process/);
    client.close();
    await api(`/instances/${instance.id}`, { method: 'DELETE' });
  });

  it('refuses a malformed stream command with a clear error, and it leaves nothing behind', async () => {
    const instance = await create();
    const client = await stream(instance.id);
    const errors = () => client.events.filter((e) => e.type === 'error');
    const refusedAs = async (command: object, field: string) => {
      const before = errors().length;
      client.send(command);
      await eventually(() => errors().length > before, 10_000, `an error for ${JSON.stringify(command)}`);
      const error = errors()[before]?.error as {
        code: string;
        message: string;
        details: Array<{ field: string }>;
      };
      assert.equal(error.code, 'FAAS_ERR_VALIDATION', JSON.stringify(error));
      assert.deepEqual(
        error.details.map((d) => d.field),
        [field],
      );
      // Not JavaScript's own words ("exec.argv is not iterable").
      assert.doesNotMatch(error.message, /iterable|is not a function|undefined/);
    };
    await refusedAs({ type: 'exec', command: 123 }, 'command');
    await refusedAs({ type: 'exec', command: '' }, 'command');
    await refusedAs({ type: 'exec', command: ['echo', 'one\u0000two'] }, 'command[1]');
    await refusedAs({ type: 'exec', command: 'pwd', cwd: '/tmp\u0000/workspace' }, 'cwd');
    await refusedAs({ type: 'exec', command: 'env', env: { '1X': '1' } }, 'env.1X');
    await refusedAs({ type: 'checkpoint', name: 123 }, 'name');
    await refusedAs({ type: 'signal', signal: 265 }, 'signal');
    // The instance answers as before: its list, itself, its state, its events.
    const listed = await api<{ items: InstanceBody[] }>('/instances');
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    const got = await api(`/instances/${instance.id}`);
    assert.equal(got.status, 200, JSON.stringify(got.body));
    assert.deepEqual(got.body.processes, []);
    client.send({ type: 'get_state' });
    const state = await client.next(
      (e) => e.type === 'state' && e.instance !== undefined && e !== client.events[0],
    );
    assert.equal(state.state, 'running');
    const sse = await s.api(`/api/v1/instances/${instance.id}/events`);
    assert.equal(sse.status, 200);
    const reader = (sse.body as ReadableStream<Uint8Array>).getReader();
    assert.match(new TextDecoder().decode((await reader.read()).value), /^event: state\n/);
    await reader.cancel();
    // A good exec still runs.
    client.send({ type: 'exec', command: ['echo', 'fine'] });
    const started = await client.next((e) => e.type === 'started');
    await client.next((e) => e.type === 'exit' && e.process === started.process);
    assert.equal(client.stdout(started.process as number), 'fine\n');
    client.close();
    await api(`/instances/${instance.id}`, { method: 'DELETE' });
  });

  it('serves a TTY shell with resize, and the same events as Server-Sent Events', async () => {
    const instance = await create();
    const client = await stream(instance.id);
    client.send({ type: 'exec', command: ['sh'], tty: true, rows: 30, cols: 100 });
    const shell = await client.next((e) => e.type === 'started');
    client.send({ type: 'stdin', data: 'stty size\n' });
    await eventually(() => client.stdout(shell.process as number).includes('30 100'), 10_000);
    // Past what the agent's frames carry: refused as bad input, and the shell goes on.
    client.send({ type: 'resize', rows: 70_000, cols: 1 });
    const refused = await client.next((e) => e.type === 'error');
    assert.equal((refused.error as { code: string }).code, 'FAAS_ERR_VALIDATION');
    client.send({ type: 'resize', rows: 40, cols: 120 });
    client.send({ type: 'stdin', data: 'stty size; exit 7\n' });
    const exit = await client.next((e) => e.type === 'exit' && e.process === shell.process);
    assert.equal(exit.code, 7);
    assert.match(client.stdout(shell.process as number), /40 120/);
    client.close();

    const sse = await s.api(`/api/v1/instances/${instance.id}/events`);
    assert.equal(sse.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const reader = (sse.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    await exec(instance.id, { command: 'echo via-sse' });
    const decoder = new TextDecoder();
    while (!text.includes('event: exit')) text += decoder.decode((await reader.read()).value);
    assert.match(text, /event: stdout\nid: \d+\ndata: \{[^\n]*"data":"via-sse\\n"/);
    await reader.cancel();
    await api(`/instances/${instance.id}`, { method: 'DELETE' });
  });

  it('stops idle instances after their TTL', async () => {
    const instance = await create({ idle_ttl_ms: 1000 });
    await eventually(async () => (await api(`/instances/${instance.id}`)).body.status === 'stopped', 15_000);
    const restarted = await api(`/instances/${instance.id}/start`, { method: 'POST' });
    assert.equal(restarted.body.status, 'running');
    await api(`/instances/${instance.id}`, { method: 'DELETE' });
  });

  it('fails a start whose agent never answers: it can be started again, or deleted', async () => {
    const instance = await create();
    assert.equal((await api(`/instances/${instance.id}/stop`, { method: 'POST' })).body.status, 'stopped');
    // The agent every instance of this server mounts, swapped for one that exits at once.
    const bin = join(s.dataDir, 'containers', 'bin');
    const agent = join(bin, readdirSync(bin).find((n) => n.startsWith('faas-sandbox-agent-')) as string);
    renameSync(agent, `${agent}.kept`);
    try {
      writeFileSync(agent, '#!/bin/sh\nexit 3\n', { mode: 0o755 });
      const refused = await api(`/instances/${instance.id}/start`, { method: 'POST' });
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      assert.equal(refused.body.error?.code, 'FAAS_ERR_RUNTIME_UNAVAILABLE');
      const failed = await api(`/instances/${instance.id}`);
      assert.equal(failed.body.status, 'failed');
    } finally {
      renameSync(`${agent}.kept`, agent);
    }
    const started = await api(`/instances/${instance.id}/start`, { method: 'POST' });
    assert.equal(started.body.status, 'running', JSON.stringify(started.body));
    assert.equal((await exec(instance.id, { command: 'echo back' })).body.stdout, 'back\n');
    assert.equal((await api(`/instances/${instance.id}`, { method: 'DELETE' })).status, 204);
  });

  it('keeps instances across a server restart', async () => {
    const dataDir = tempDataDir();
    let server = await startTestServer({}, dataDir);
    try {
      const res = await server.api('/api/v1/instances', { method: 'POST', json: { command: 'sleep 600' } });
      assert.equal(res.status, 201);
      const created = (await res.json()) as InstanceBody;
      const instance = await server.server.platform.instances.manager.get(created.id);
      await server.server.close();
      // A closed server lets go of its instances: it does not join them again.
      const link = instance.link;
      let ended = false;
      void link?.ended.then(() => {
        ended = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(instance.link, link, 'no new link');
      assert.ok(ended, 'the old link ended');
      server = await startTestServer({}, dataDir);
      const found = (await (await server.api(`/api/v1/instances/${created.id}`)).json()) as InstanceBody;
      assert.equal(found.status, 'running');
      const ran = (await (
        await server.api(`/api/v1/instances/${created.id}/exec`, {
          method: 'POST',
          json: { command: 'echo alive' },
        })
      ).json()) as { stdout: string };
      assert.equal(ran.stdout, 'alive\n');
      assert.equal((await server.api(`/api/v1/instances/${created.id}`, { method: 'DELETE' })).status, 204);
      assert.deepEqual(ownedContainers(dataDir), []);
    } finally {
      removeContainers(ownedContainers(dataDir));
      await server.close();
    }
  });

  it('snapshots a runc instance as files and restores them into a new instance', async () => {
    const instance = await create();
    await exec(instance.id, { command: 'mkdir -p d && echo saved > d/f.txt' });
    const snap = await api<{ id: string; kind: string }>('/snapshots', {
      method: 'POST',
      json: { instance_id: instance.id, name: 'files' },
    });
    assert.equal(snap.status, 201);
    assert.equal(snap.body.kind, 'filesystem');
    const restored = await api(`/snapshots/${snap.body.id}/restore`, { method: 'POST' });
    assert.equal(restored.status, 201);
    assert.equal((await exec(restored.body.id, { command: 'cat d/f.txt' })).body.stdout, 'saved\n');
    for (const id of [instance.id, restored.body.id]) await api(`/instances/${id}`, { method: 'DELETE' });
    assert.equal((await api(`/snapshots/${snap.body.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await api(`/snapshots/${snap.body.id}`)).status, 404);
  });

  it('answers 404 for a restore whose snapshot is deleted while its instance is made, and leaves none', async () => {
    const snap = await snapshotOfGone();
    const manager = s.server.platform.instances.manager;
    const made = manager.create;
    // The delete lands between the restore's look-up and its read of the snapshot's data.
    manager.create = async (...args: Parameters<typeof made>) => {
      assert.equal((await api(`/snapshots/${snap.body.id}`, { method: 'DELETE' })).status, 204);
      return made.apply(manager, args);
    };
    try {
      const restored = await api(`/snapshots/${snap.body.id}/restore`, { method: 'POST' });
      assert.equal(restored.status, 404, JSON.stringify(restored.body));
    } finally {
      manager.create = made;
    }
    assert.deepEqual((await api<{ items: unknown[] }>('/instances')).body.items, []);
  });

  it('keeps no instance of a fork whose caller went away before its answer', async () => {
    const snap = await snapshotOfGone();
    const manager = s.server.platform.instances.manager;
    const made = manager.create;
    const hangUp = new AbortController();
    const creating: Promise<unknown>[] = [];
    // The caller hangs up while its instances are made (a gateway whose share timed out).
    manager.create = (...args: Parameters<typeof made>) => {
      hangUp.abort();
      const next = new Promise((resolve) => setTimeout(resolve, 300)).then(() => made.apply(manager, args));
      creating.push(next);
      return next as ReturnType<typeof made>;
    };
    try {
      await assert.rejects(
        s.api(`/api/v1/snapshots/${snap.body.id}/fork`, {
          method: 'POST',
          json: { count: 2 },
          signal: hangUp.signal,
        }),
      );
      await waitFor(async () => (creating.length === 2 ? true : undefined));
      await Promise.allSettled(creating);
    } finally {
      manager.create = made;
    }
    await waitFor(async () =>
      (await api<{ items: unknown[] }>('/instances')).body.items.length === 0 ? true : undefined,
    );
    await api(`/snapshots/${snap.body.id}`, { method: 'DELETE' });
  });

  it('checkpoints a gVisor process in memory; restores and forks continue its count independently', async () => {
    const counter =
      'i=0; while true; do i=$((i+1)); echo $i > /workspace/count.new; mv /workspace/count.new /workspace/count; echo $i; sleep 0.05; done';
    const instance = await create({ isolation: 'gvisor', command: counter });
    const counted = async (id: string) =>
      Number((await exec(id, { command: 'cat /workspace/count' })).body.stdout);
    await eventually(async () => (await counted(instance.id)) >= 5, 15_000);
    const snapshotting = api<{ id: string; kind: string }>('/snapshots', {
      method: 'POST',
      json: { instance_id: instance.id },
    });
    // A checkpoint moves the instance to a new container: stop and delete wait for it.
    await eventually(
      async () => (await api(`/instances/${instance.id}`)).body.status === 'checkpointing',
      10_000,
      'the checkpoint to start',
    );
    for (const [path, method] of [
      [`/instances/${instance.id}`, 'DELETE'],
      [`/instances/${instance.id}/stop`, 'POST'],
    ] as const) {
      const refused = await api(path, { method });
      assert.equal(refused.status, 409, `${method} ${path}`);
      assert.match(refused.body.error?.code ?? '', /CONFLICT/);
    }
    const snap = await snapshotting;
    assert.equal(snap.status, 201, JSON.stringify(snap.body));
    assert.equal(snap.body.kind, 'memory');
    const atSnapshot = await counted(instance.id);
    assert.ok(atSnapshot >= 5);

    const forks = await api<{ instances: InstanceBody[] }>(`/snapshots/${snap.body.id}/fork`, {
      method: 'POST',
      json: { count: 2 },
    });
    assert.equal(forks.status, 201, JSON.stringify(forks.body));
    const [a, b] = forks.body.instances as [InstanceBody, InstanceBody];
    for (const fork of [a, b]) {
      // The count goes on from the snapshot, not from 1: memory came back.
      const first = await counted(fork.id);
      assert.ok(first >= 5, `fork ${fork.id} restarted its count at ${first}`);
    }
    await exec(a.id, { command: 'echo a > only-a' });
    assert.equal((await exec(b.id, { command: 'test -e only-a' })).body.exit_code, 1);
    await exec(a.id, { command: 'pkill -f "while true" || kill 1' });
    await eventually(async () => (await counted(b.id)) > atSnapshot + 5, 15_000);

    for (const id of [instance.id, a.id, b.id]) await api(`/instances/${id}`, { method: 'DELETE' });
    await api(`/snapshots/${snap.body.id}`, { method: 'DELETE' });
  });

  it('a restore knows the processes of its snapshot: stream stdin reaches the restored main process', async () => {
    const repl = 'while read -r line; do echo "got $line"; done';
    const instance = await create({ isolation: 'gvisor', command: repl });
    const before = await stream(instance.id);
    before.send({ type: 'stdin', data: 'a\n' });
    await before.next((e) => e.type === 'stdout' && e.data === 'got a\n');
    before.close();
    const snap = await api<{ id: string }>('/snapshots', {
      method: 'POST',
      json: { instance_id: instance.id },
    });
    assert.equal(snap.status, 201, JSON.stringify(snap.body));
    const restored = await api(`/snapshots/${snap.body.id}/restore`, { method: 'POST' });
    assert.equal(restored.status, 201, JSON.stringify(restored.body));
    assert.deepEqual(
      restored.body.processes.map((p) => p.command),
      [`sh -c ${repl}`],
    );
    const after = await stream(restored.body.id);
    after.send({ type: 'stdin', data: 'b\n' });
    await after.next((e) => e.type === 'stdout' && e.data === 'got b\n');
    after.close();
    for (const id of [instance.id, restored.body.id]) await api(`/instances/${id}`, { method: 'DELETE' });
    await api(`/snapshots/${snap.body.id}`, { method: 'DELETE' });
  });

  it('restores from a paused standby; after a crash, the next server removes standbys nobody took', async () => {
    const dataDir = tempDataDir();
    // One standby per snapshot: each gVisor restore of one is the test's slowest step.
    const crashing = await spawnServer(dataDir, { FAAS_RESTORE_STANDBYS: '1' });
    let server: TestServer | undefined;
    const call = async <T>(path: string, init: RequestInit & { json?: unknown } = {}) => {
      const res = await request(server?.url ?? crashing.url, `/api/v1${path}`, init);
      return { status: res.status, body: (await res.json()) as T };
    };
    // Standbys are the paused containers; a snapshot keeps one ready.
    const states = (running: number, paused: number, what: string) =>
      eventually(
        () => {
          const all = containerStates(dataDir);
          return (
            all.filter((s) => s === 'running').length === running &&
            all.filter((s) => s === 'paused').length === paused &&
            all.length === running + paused
          );
        },
        // gVisor restores of standbys, beside another file's snapshots of 192 MiB in CI: 60 s was
        // once not enough on a loaded machine.
        120_000,
        what,
      );
    try {
      const counter =
        'i=0; while true; do i=$((i+1)); echo $i > /workspace/count.new; mv /workspace/count.new /workspace/count; sleep 0.05; done';
      const source = await call<InstanceBody>('/instances', {
        method: 'POST',
        json: { isolation: 'gvisor', command: counter },
      });
      const count = async (id: string) =>
        Number(
          (
            await call<{ stdout: string }>(`/instances/${id}/exec`, {
              method: 'POST',
              json: { command: 'cat /workspace/count' },
            })
          ).body.stdout,
        );
      await eventually(async () => (await count(source.body.id)) >= 5, 15_000);
      const snap = await call<{ id: string }>('/snapshots', {
        method: 'POST',
        json: { instance_id: source.body.id },
      });
      await states(1, 1, 'the source and the standby of the snapshot');
      const restored = await call<InstanceBody>(`/snapshots/${snap.body.id}/restore`, { method: 'POST' });
      assert.equal(restored.status, 201);
      assert.equal(restored.body.status, 'running');
      assert.ok((await count(restored.body.id)) >= 5, 'the count went on from the snapshot');
      await states(2, 1, 'source, restored, and the standby made again');
      await crashing.kill('SIGKILL');
      // What a crash in the middle of a checkpoint leaves: a second container of the source.
      const [sourceContainer] = execFileSync('docker', [
        'ps',
        '-q',
        '--filter',
        `label=faas.instance=${source.body.id}`,
      ])
        .toString()
        .split('\n');
      const labels = JSON.parse(
        execFileSync('docker', [
          'inspect',
          '--format',
          '{{json .Config.Labels}}',
          sourceContainer as string,
        ]).toString(),
      ) as Record<string, string>;
      const image = execFileSync('docker', [
        'inspect',
        '--format',
        '{{.Config.Image}}',
        sourceContainer as string,
      ])
        .toString()
        .trim();
      execFileSync('docker', [
        'create',
        ...Object.entries(labels).flatMap(([key, value]) => ['--label', `${key}=${value}`]),
        image,
        'true',
      ]);
      server = await startTestServer({}, dataDir);
      const listed = await call<{ items: InstanceBody[] }>('/instances');
      assert.deepEqual(listed.body.items.map((i) => i.id).sort(), [source.body.id, restored.body.id].sort());
      assert.deepEqual(
        containerStates(dataDir),
        ['running', 'running'],
        'the unclaimed standbys and the duplicate are gone',
      );
      for (const id of [source.body.id, restored.body.id])
        assert.equal((await server.api(`/api/v1/instances/${id}`, { method: 'DELETE' })).status, 204);
    } finally {
      await crashing.kill('SIGKILL');
      removeContainers(ownedContainers(dataDir));
      await server?.close();
    }
  });

  it("removes a checkpointed run's instance even when the engine failed the first removal", async () => {
    const manager = s.server.platform.instances.manager;
    const remove = manager.delete;
    let refused = 0;
    manager.delete = async (...args: Parameters<typeof remove>) => {
      if (refused++ === 0) throw new Error('the engine failed the removal');
      return remove.apply(manager, args);
    };
    try {
      const run = await api<{ snapshot_id: string }>('/execute/advanced', {
        method: 'POST',
        json: { mode: 'checkpointed', command: 'true' },
      });
      assert.equal(run.status, 200, JSON.stringify(run.body));
      await eventually(async () => refused >= 2 && (await manager.list()).length === 0, 15_000, 'removed');
      await api(`/snapshots/${run.body.snapshot_id}`, { method: 'DELETE' });
    } finally {
      manager.delete = remove;
    }
  });

  it('runs execute modes checkpointed (and resumes), branched and persistent', async () => {
    const first = await api<{ snapshot_id: string; execution_id: string; stdout: string; mode: string }>(
      '/execute/advanced',
      { method: 'POST', json: { mode: 'checkpointed', command: 'echo step1 > state.txt; echo done' } },
    );
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.stdout, 'done\n');
    assert.match(first.body.snapshot_id, /^snap_/);
    const resumed = await api<{ stdout: string; snapshot_id: string }>('/execute/advanced', {
      method: 'POST',
      json: { mode: 'checkpointed', checkpoint: first.body.snapshot_id, command: 'cat state.txt' },
    });
    assert.equal(resumed.body.stdout, 'step1\n', JSON.stringify(resumed.body));
    assert.notEqual(resumed.body.snapshot_id, first.body.snapshot_id);
    const branch = await api<{ stdout: string }>('/execute/advanced', {
      method: 'POST',
      json: {
        mode: 'branched',
        parent: first.body.execution_id,
        command: 'cat state.txt; echo b > state.txt',
      },
    });
    assert.equal(branch.body.stdout, 'step1\n');
    const noParent = await api('/execute/advanced', {
      method: 'POST',
      json: { mode: 'branched', command: 'true' },
    });
    assert.equal(noParent.status, 422);
    const unknownParent = await api('/execute/advanced', {
      method: 'POST',
      json: { mode: 'branched', parent: 'snap_missing', command: 'true' },
    });
    assert.equal(unknownParent.status, 404);

    const persistent = await api<{ instance_id: string }>('/execute/advanced', {
      method: 'POST',
      json: { mode: 'persistent', command: 'sleep 600' },
    });
    assert.equal(persistent.status, 201);
    assert.equal((await api(`/instances/${persistent.body.instance_id}`)).body.status, 'running');
    await api(`/instances/${persistent.body.instance_id}`, { method: 'DELETE' });
    const snapshots = await api<{ items: Array<{ id: string }> }>('/snapshots');
    for (const snap of snapshots.body.items) await api(`/snapshots/${snap.id}`, { method: 'DELETE' });
  });

  it('a streamed checkpointed run forwards no more output than the 10 MiB it keeps', async () => {
    const res = await s.api('/api/v1/execute/advanced?stream=true', {
      method: 'POST',
      json: { mode: 'checkpointed', command: 'head -c 50000000 /dev/zero' },
    });
    assert.equal(res.status, 200);
    let stdout = 0;
    let exit: { truncated?: boolean; snapshot_id?: string } | undefined;
    let pending = '';
    const decoder = new TextDecoder();
    // Counted line by line: the whole answer held as one string would be the memory this tests.
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      const lines = (pending + decoder.decode(chunk, { stream: true })).split('\n');
      pending = lines.pop() ?? '';
      for (const text of lines) {
        const line = JSON.parse(text) as { type: string; data?: string; truncated?: boolean };
        if (line.type === 'stdout') stdout += line.data?.length ?? 0;
        if (line.type === 'exit') exit = line;
      }
    }
    assert.ok(stdout <= 10 * 1024 * 1024, `${stdout} bytes of stdout streamed`);
    assert.equal(exit?.truncated, true, JSON.stringify(exit));
    if (exit?.snapshot_id) await api(`/snapshots/${exit.snapshot_id}`, { method: 'DELETE' });
  });

  it('leaves no instance container behind', async () => {
    assert.deepEqual((await api<{ items: InstanceBody[] }>('/instances')).body.items, []);
    const runtime = s.server.platform.runtimes.all.find((r) => 'instances' in r) as unknown as {
      trackedContainers(): number;
      settled(): Promise<void>;
    };
    await runtime.settled();
    assert.equal(ownedContainers(s.dataDir).length, runtime.trackedContainers());
  });
});
