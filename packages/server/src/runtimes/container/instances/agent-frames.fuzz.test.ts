import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fuzz } from '@faas/testkit';
import {
  Event,
  encodeFrame,
  FrameDecoder,
  FrameError,
  HEADER_BYTES,
  MAX_EVENT_PAYLOAD,
  PING_ID,
} from './agent-frames.ts';

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const nonce = Buffer.alloc(16, 0xab);

const seeds = [
  Buffer.concat([
    encodeFrame(Event.log, 0, Buffer.from('ready')),
    encodeFrame(Event.started, 3, u32(17)),
    encodeFrame(Event.stdout, 3, Buffer.from('out\n')),
    encodeFrame(Event.stderr, 3, Buffer.from('err\n')),
    encodeFrame(Event.stdinTaken, 3, u32(4096)),
    encodeFrame(Event.exit, 3, u32(0)),
  ]),
  Buffer.concat([
    encodeFrame(Event.file, 0, Buffer.from('m/workspace/x')),
    encodeFrame(Event.custom, 0, Buffer.from('{"name":"n","data":1}')),
    encodeFrame(Event.pong, PING_ID, nonce),
  ]),
  encodeFrame(Event.exit, 1),
  Buffer.concat([
    Buffer.from('garbage before'),
    encodeFrame(Event.pong, PING_ID, nonce),
    encodeFrame(Event.exit, 9, u32(1)),
  ]),
];

/** Cuts the input into chunks whose sizes come from its own bytes, so every split gets tried. */
function chunks(input: Uint8Array): Buffer[] {
  const bytes = Buffer.from(input);
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = 1 + ((bytes[i % bytes.length] as number) % 61);
    out.push(bytes.subarray(at, at + size));
    at += size;
  }
  return out;
}

function decodeAll(input: Uint8Array, resync: boolean): void {
  const decoder = new FrameDecoder();
  if (resync) decoder.resyncOn(nonce);
  for (const chunk of chunks(input)) {
    for (const frame of decoder.push(chunk)) {
      // Whatever comes out is within the protocol's shape.
      assert.ok(frame.payload.length <= MAX_EVENT_PAYLOAD);
      assert.ok(Object.values(Event).includes(frame.type as never), `type ${frame.type}`);
      if (frame.type === Event.exit || frame.type === Event.started) assert.equal(frame.payload.length, 4);
    }
  }
}

describe('FrameDecoder fuzz', () => {
  it('either decodes frames of the protocol’s shape or refuses with FrameError', async () => {
    const report = await fuzz({
      seeds,
      run: (input) => decodeAll(input, false),
      rejects: (err) => err instanceof FrameError,
    });
    assert.ok(report.runs > 0);
  });

  it('in resync mode too', async () => {
    await fuzz({
      seeds,
      run: (input) => decodeAll(input, true),
      rejects: (err) => err instanceof FrameError,
    });
  });

  it('never holds more than a header for an oversized frame', () => {
    const decoder = new FrameDecoder();
    const header = encodeFrame(Event.stdout, 1).subarray(0, HEADER_BYTES);
    header.writeUInt32BE(MAX_EVENT_PAYLOAD + 1, 5);
    assert.throws(() => decoder.push(header), FrameError);
  });
});
