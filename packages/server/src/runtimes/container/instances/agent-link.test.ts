import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import { Event, encodeFrame, PING_ID, Request } from './agent-frames.ts';
import { AgentLink, MAX_UNSENT_REQUEST_BYTES } from './agent-link.ts';
import { Instance } from './instance.ts';
import { TEST_SPEC } from './test-spec.ts';

const spec = TEST_SPEC;

/** One piece of the engine's multiplexed attach stream. */
function engine(stream: 1 | 2, data: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(data.length, 4);
  return Buffer.concat([header, data]);
}

/**
 * An instance linked to a fake attach stream, wired as the runner wires it: a failed link fails
 * the instance. `agent` is what the server sent; `feed` plays the agent's (or an attacker's) bytes.
 * With `reading: false` the fake agent never takes the server's writes.
 */
function linked(options: { reading?: boolean; stallMs?: number } = {}) {
  const sent: Buffer[] = [];
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      sent.push(chunk);
      if (options.reading !== false) callback();
    },
  });
  const instance = new Instance('inst_test', spec, 'c1', Date.now());
  const failures: string[] = [];
  const link = new AgentLink(
    stream,
    {
      onFrame: instance.handleFrame,
      onFailure: (reason) => {
        failures.push(reason);
        instance.markFailed(reason);
      },
    },
    options.stallMs ? { stallMs: options.stallMs } : {},
  );
  instance.setLink(link);
  instance.state = 'running';
  const events: Array<{ type: string; [key: string]: unknown }> = [];
  instance.events.subscribe((event) => events.push(event));
  return {
    instance,
    link,
    stream,
    failures,
    events,
    feed: (bytes: Buffer) => stream.push(bytes),
    /** The frames the server sent, decoded as the agent would. */
    requests: () => {
      const all = Buffer.concat(sent);
      const out: Array<{ type: string; id: number; payload: Buffer }> = [];
      for (let at = 0; at + 9 <= all.length; ) {
        const length = all.readUInt32BE(at + 5);
        out.push({
          type: String.fromCharCode(all[at] as number),
          id: all.readUInt32BE(at + 1),
          payload: all.subarray(at + 9, at + 9 + length),
        });
        at += 9 + length;
      }
      return out;
    },
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('AgentLink with an instance', () => {
  it('delivers the agent frames to the instance', async () => {
    const t = linked();
    const run = t.instance.exec(['true'], { timeoutMs: 60_000 });
    const exec = t.requests().find((r) => r.type === Request.exec);
    assert.ok(exec);
    const code = Buffer.alloc(4);
    code.writeInt32BE(3);
    t.feed(
      engine(
        1,
        Buffer.concat([
          encodeFrame(Event.stdout, exec.id, Buffer.from('out')),
          encodeFrame(Event.exit, exec.id, code),
        ]),
      ),
    );
    const result = await run;
    assert.equal(result.exitCode, 3);
    assert.equal(result.stdout.toString(), 'out');
    assert.equal(t.instance.state, 'running');
  });

  it('fails the instance, not the server, on a 9-byte exit frame without its code', async () => {
    const t = linked();
    const run = t.instance.exec(['sleep', '30'], { timeoutMs: 60_000 });
    const exec = t.requests().find((r) => r.type === Request.exec);
    assert.ok(exec);
    // What a process wrote through /proc/<agent pid>/fd/1: readInt32BE threw in handleFrame.
    t.feed(engine(1, encodeFrame(Event.exit, exec.id)));
    const result = await run;
    assert.equal(result.exitCode, 137);
    assert.equal(t.instance.state, 'failed');
    assert.match(t.instance.reason ?? '', /broke the protocol: event "Z" with a 0-byte payload/);
    assert.deepEqual(t.failures.length, 1);
    assert.ok(t.stream.destroyed, 'the attach stream is closed');
    const state = t.events.find((e) => e.type === 'state');
    assert.deepEqual([state?.state, typeof state?.reason], ['failed', 'string']);
  });

  it('fails at a 4 GiB header and reads nothing of what follows', async () => {
    const t = linked();
    const run = t.instance.exec(['true'], { timeoutMs: 60_000 });
    const header = encodeFrame(Event.stdout, 1);
    header.writeUInt32BE(0xffffffff, 5);
    t.feed(engine(1, header));
    const zeros = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < 8; i++) t.feed(engine(1, zeros));
    await tick();
    assert.equal(t.instance.state, 'failed');
    assert.match(t.instance.reason ?? '', /4294967295-byte payload/);
    assert.equal((await run).exitCode, 137);
  });

  it('fails on an attach stream header that is not the engine’s', async () => {
    const t = linked();
    t.feed(Buffer.from('5a000000010000000000', 'hex'));
    await tick();
    assert.equal(t.instance.state, 'failed');
    assert.match(t.instance.reason ?? '', /attach stream has a bad header 5a00000001000000/);
  });

  it('keeps the agent’s stderr for errors, bounded', async () => {
    const t = linked();
    for (let i = 0; i < 100; i++) t.feed(engine(2, Buffer.alloc(1000, 0x61)));
    t.feed(engine(2, Buffer.from('the end')));
    await tick();
    assert.equal(t.link.agentStderr.length, 4000);
    assert.ok(t.link.agentStderr.endsWith('the end'));
    assert.equal(t.instance.state, 'running');
  });

  it('relinks through a poisoned stream: resync, then the bad frame fails the instance', async () => {
    const t = linked();
    t.link.resync();
    const pinged = t.link.ping(60_000);
    const ping = t.requests().find((r) => r.type === Request.ping);
    assert.ok(ping && ping.id === PING_ID);
    const poison = encodeFrame(Event.exit, 5);
    t.feed(
      engine(1, Buffer.concat([poison, poison, encodeFrame(Event.pong, PING_ID, ping.payload), poison])),
    );
    await pinged;
    await tick();
    assert.equal(t.instance.state, 'failed');
  });

  it('drops what a restored agent sends before the resync ping goes out: the rest of a frame cut by the checkpoint', async () => {
    const t = linked();
    // As a restore does: resync, then the container starts, and its agent finishes the write it
    // was in when checkpointed (here the tail of a file event) before the server pings.
    t.link.resync();
    const whole = encodeFrame(Event.file, 0, Buffer.from('c/workspace/count.new'));
    t.feed(engine(1, whole.subarray(12)));
    await tick();
    assert.equal(t.instance.state, 'running', t.instance.reason);
    const pinged = t.link.ping(60_000);
    const ping = t.requests().find((r) => r.type === Request.ping);
    assert.ok(ping);
    t.feed(engine(1, Buffer.concat([whole, encodeFrame(Event.pong, PING_ID, ping.payload), whole])));
    await pinged;
    await tick();
    assert.equal(t.instance.state, 'running', t.instance.reason);
  });

  it('takes an agent that leaves its requests unread as wedged', async () => {
    const t = linked({ reading: false });
    const running = t.instance.start(['cat']);
    for (let sent = 0; sent <= MAX_UNSENT_REQUEST_BYTES; sent += 1024 * 1024) {
      t.instance.writeStdin(running.process, Buffer.alloc(1024 * 1024));
      if (t.instance.state !== 'running') break;
    }
    assert.equal(t.instance.state, 'failed');
    assert.match(t.instance.reason ?? '', /left \d+ bytes of requests unread/);
    assert.equal((await running.exited).code, 137);
  });

  it('takes an agent that reads none of its requests for a while as wedged (a stream’s stdin)', async () => {
    const t = linked({ reading: false, stallMs: 50 });
    const running = t.instance.start(['cat']);
    t.instance.writeStdin(running.process, Buffer.alloc(64 * 1024));
    assert.equal(t.instance.state, 'running', 'a backlog alone is not a failure');
    assert.equal((await running.exited).code, 137);
    assert.equal(t.instance.state, 'failed');
    assert.match(t.instance.reason ?? '', /read none of its requests for 50 ms/);
  });

  it('answers an exec past its deadline when the agent is silent, and fails the instance', async () => {
    const t = linked();
    const result = await t.instance.exec(['sleep', '30'], { timeoutMs: 20 });
    assert.equal(result.timedOut, true);
    assert.equal(result.exitCode, 137);
    assert.equal(t.instance.state, 'failed');
    assert.match(t.instance.reason ?? '', /answered nothing for \d+ ms after a kill/);
    // The kill and a ping went out; nothing came back.
    assert.deepEqual(
      t
        .requests()
        .map((r) => r.type)
        .filter((type) => type === Request.signal || type === Request.ping),
      [Request.signal, Request.ping],
    );
  });

  it('answers an exec past its deadline when the agent answers pings but never reports the exit', async () => {
    const t = linked();
    const run = t.instance.exec(['sleep', '30'], { timeoutMs: 20 });
    // Answer every ping as the agent would.
    const answered = new Set<string>();
    const timer = setInterval(() => {
      for (const r of t.requests()) {
        const key = r.payload.toString('hex');
        if (r.type !== Request.ping || answered.has(key)) continue;
        answered.add(key);
        t.feed(engine(1, encodeFrame(Event.pong, PING_ID, r.payload)));
      }
    }, 10);
    const result = await run;
    clearInterval(timer);
    assert.equal(result.timedOut, true);
    assert.equal(result.exitCode, 137);
    assert.equal(t.instance.state, 'running', 'an agent that answers is not failed');
  });
});
