import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import { fuzz } from '@faas/testkit';
import { Event, encodeFrame, PING_ID } from './agent-frames.ts';
import { AgentLink } from './agent-link.ts';
import { Instance } from './instance.ts';
import { TEST_SPEC } from './test-spec.ts';

const spec = TEST_SPEC;

function engine(stream: number, data: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(data.length, 4);
  return Buffer.concat([header, data]);
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

const seeds = [
  Buffer.concat([
    engine(1, encodeFrame(Event.log, 0, Buffer.from('ready'))),
    engine(2, Buffer.from('agent stderr')),
    engine(
      1,
      Buffer.concat([encodeFrame(Event.started, 5, u32(9)), encodeFrame(Event.stdout, 5, Buffer.from('hi'))]),
    ),
    engine(1, encodeFrame(Event.exit, 5, u32(0)).subarray(0, 6)),
    engine(1, encodeFrame(Event.exit, 5, u32(0)).subarray(6)),
  ]),
  engine(
    1,
    Buffer.concat([
      encodeFrame(Event.file, 0, Buffer.from('d/workspace/gone')),
      encodeFrame(Event.pong, PING_ID, Buffer.alloc(16)),
    ]),
  ),
  engine(1, encodeFrame(Event.exit, 5)),
];

/**
 * The whole read path of an instance (engine demultiplexer, frame decoder, the instance's frame
 * handler) over random attach streams: it must never throw into the stream's reader (that is a
 * server crash); a bad stream fails the instance with a reason.
 */
describe('AgentLink stream fuzz', () => {
  it('never throws on the stream, and fails the instance with a reason on bad bytes', async () => {
    await fuzz({
      seeds,
      run: (input) => {
        const stream = new Duplex({
          read() {},
          write(_chunk, _encoding, callback) {
            callback();
          },
        });
        const instance = new Instance('inst_fuzz', spec, 'c', Date.now());
        const link = new AgentLink(stream, {
          onFrame: instance.handleFrame,
          onFailure: (reason) => instance.markFailed(reason),
        });
        instance.setLink(link);
        instance.state = 'running';
        // A process the frames can address, as if the server had started it.
        instance.start(['sh']);
        const bytes = Buffer.from(input);
        const cut = bytes.length === 0 ? 0 : (bytes[0] as number) % (bytes.length + 1);
        // 'data' handlers run synchronously on push: a throw here would be the server's crash.
        stream.emit('data', bytes.subarray(0, cut));
        stream.emit('data', bytes.subarray(cut));
        if (link.failure) {
          assert.equal(instance.state, 'failed');
          assert.ok(instance.reason);
        }
        stream.destroy();
      },
    });
  });
});
