import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AgentChannel, AgentFatalError, AgentGoneError, AgentProtocolError } from './agent-channel.ts';
import { DEFAULT_AGENT_LIMITS } from './agent-messages.ts';

const skip =
  process.getuid?.() === 0 ? false : 'handing the socket to another uid needs root, as the server does';

function connect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** The host's end of the agent channel, against a fake agent on a real Unix socket. */
describe('AgentChannel', { skip }, () => {
  let dir: string;
  let n = 0;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faas-ch-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function open(): Promise<{ channel: AgentChannel; agent: Socket; path: string }> {
    n += 1;
    const path = join(dir, `a${n}.sock`);
    const channel = await AgentChannel.listen(path, {
      agentUid: 65533,
      agentGid: 65533,
      limits: DEFAULT_AGENT_LIMITS,
    });
    const agent = await connect(path);
    agent.write('{"t":"hello","runtime":"node","pid":1}\n');
    await channel.waitForHello(5000);
    return { channel, agent, path };
  }

  const invoke = (channel: AgentChannel, logs: string[] = []) =>
    channel.invoke({ id: 'inv_1', event: {}, deadline: Date.now() + 5000, onLog: (_l, m) => logs.push(m) });

  it('hands the socket to the agent uid alone and stops listening once the agent is in', async () => {
    const path = join(dir, 'owned.sock');
    const channel = await AgentChannel.listen(path, {
      agentUid: 65533,
      agentGid: 65533,
      limits: DEFAULT_AGENT_LIMITS,
    });
    const info = await stat(path);
    assert.equal(info.uid, 65533);
    assert.equal(info.gid, 65533);
    assert.equal(info.mode & 0o777, 0o600);
    const agent = await connect(path);
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(connect(path), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
    agent.destroy();
    await channel.close();
  });

  it("fails the running invocation, not the process, on the issue's log line (regression)", async () => {
    const { channel, agent } = await open();
    let gone = false;
    channel.onGone(() => {
      gone = true;
    });
    const pending = invoke(channel);
    agent.write('{"t":"log","id":null,"level":"info","message":12345}\n');
    await assert.rejects(
      pending,
      (err) => err instanceof AgentProtocolError && /log\.message/.test(err.message),
    );
    assert.equal(gone, true);
    assert.equal(channel.connected, false);
    await channel.close();
  });

  it('refuses a result of another invocation and a line that never ends', async () => {
    const forged = await open();
    const pending = invoke(forged.channel);
    forged.agent.write('{"t":"result","id":"inv_2","ok":true,"value":1}\n');
    await assert.rejects(pending, AgentProtocolError);
    await forged.channel.close();

    const endless = await open();
    const waiting = invoke(endless.channel);
    const chunk = Buffer.alloc(1024 * 1024, 'x');
    for (let i = 0; i < 10; i++) endless.agent.write(chunk);
    await assert.rejects(
      waiting,
      (err) => err instanceof AgentProtocolError && /longer than/.test(err.message),
    );
    await endless.channel.close();
  });

  it('passes logs and the result of the running invocation; fatal and a closed connection fail it', async () => {
    const ok = await open();
    const logs: string[] = [];
    const pending = invoke(ok.channel, logs);
    ok.agent.write(
      '{"t":"log","id":"inv_1","level":"log","message":"hi"}\n{"t":"log","id":null,"level":"log","message":"stray"}\n',
    );
    ok.agent.write('{"t":"result","id":"inv_1","ok":true,"value":{"a":1}}\n');
    assert.deepEqual((await pending) as unknown, { t: 'result', id: 'inv_1', ok: true, value: { a: 1 } });
    assert.deepEqual(logs, ['hi']);

    const crashed = invoke(ok.channel);
    ok.agent.write('{"t":"fatal","id":"inv_1","error":{"type":"Error","message":"boom"}}\n');
    await assert.rejects(crashed, (err) => err instanceof AgentFatalError && err.error.message === 'boom');
    await ok.channel.close();

    const closed = await open();
    const lost = invoke(closed.channel);
    closed.agent.destroy();
    await assert.rejects(lost, AgentGoneError);
    await closed.channel.close();
  });

  const strayLine = `${JSON.stringify({ t: 'log', id: null, level: 'log', message: 'y' })}\n`;

  /** Writes stray log lines until the host closes the connection or `limitBytes` are written. */
  async function flood(agent: Socket, limitBytes: number): Promise<number> {
    const chunk = strayLine.repeat(2000);
    let written = 0;
    let closed = false;
    agent.on('close', () => {
      closed = true;
    });
    agent.on('error', () => {});
    while (!closed && written < limitBytes) {
      written += chunk.length;
      if (!agent.write(chunk))
        await new Promise<void>((resolve) => {
          agent.once('drain', resolve);
          agent.once('close', resolve);
        });
    }
    return written;
  }

  it('ends the connection of an agent that floods output while no call is pending, after a budget', async () => {
    // Between calls a timer or a child process writing stdout becomes id:null log lines, which
    // the host parsed without limit and then dropped: one fake agent took half a core.
    const { channel, agent } = await open();
    let gone = false;
    channel.onGone(() => {
      gone = true;
    });
    const written = await flood(agent, 64 * 1024 * 1024);
    assert.equal(gone, true, `still connected after ${written} idle bytes`);
    assert.equal(channel.connected, false);
    // What the host read is bounded by the budget (plus what the sockets held meanwhile).
    assert.ok(written < 8 * 1024 * 1024, `${written} bytes written before the host hung up`);
    agent.destroy();
    await channel.close();
  });

  it('counts idle output from the last call on: a call in between starts the budget again', async () => {
    const { channel, agent } = await open();
    for (let i = 0; i < 3; i++) {
      agent.write(strayLine.repeat(Math.floor((700 * 1024) / strayLine.length)));
      await new Promise((r) => setTimeout(r, 50));
      const pending = invoke(channel);
      agent.write('{"t":"result","id":"inv_1","ok":true,"value":1}\n');
      assert.equal(((await pending) as unknown as { value: number }).value, 1);
    }
    assert.equal(channel.connected, true);
    agent.destroy();
    await channel.close();
  });
});
