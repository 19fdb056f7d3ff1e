import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  Event,
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameError,
  MAX_EVENT_PAYLOAD,
  MAX_RESYNC_BYTES,
  PING_ID,
} from './agent-frames.ts';

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

/** Frames as the agent sends them, one of each event. */
const sample = [
  encodeFrame(Event.log, 0, Buffer.from('ready')),
  encodeFrame(Event.started, 7, u32(42)),
  encodeFrame(Event.stdout, 7, Buffer.from('hello\n')),
  encodeFrame(Event.stderr, 7, Buffer.alloc(0)),
  encodeFrame(Event.stdinTaken, 7, u32(5)),
  encodeFrame(Event.file, 0, Buffer.from('c/workspace/a.txt')),
  encodeFrame(Event.custom, 0, Buffer.from('{"name":"x"}')),
  encodeFrame(Event.pong, PING_ID, Buffer.alloc(16, 1)),
  encodeFrame(Event.exit, 7, u32(-1)),
];

const summary = (frames: Frame[]) => frames.map((f) => [f.type, f.id, f.payload.toString('hex')]);

function rejects(decoder: FrameDecoder, bytes: Buffer, pattern: RegExp): void {
  assert.throws(
    () => decoder.push(bytes),
    (err: unknown) => err instanceof FrameError && pattern.test(err.message),
  );
}

describe('FrameDecoder', () => {
  it('gives the same frames however the stream is cut', () => {
    const stream = Buffer.concat(sample);
    const whole = new FrameDecoder().push(stream);
    assert.equal(whole.length, sample.length);
    const decoder = new FrameDecoder();
    const byByte = [...stream].flatMap((byte) => decoder.push(Buffer.from([byte])));
    assert.deepEqual(summary(byByte), summary(whole));
  });

  it('refuses the 9-byte exit frame with an empty payload (it crashed the server)', () => {
    rejects(
      new FrameDecoder(),
      Buffer.from('5a000000010000000000', 'hex').subarray(0, 9),
      /"Z" with a 0-byte payload/,
    );
  });

  it('refuses a header claiming 4 GiB as soon as the header is complete', () => {
    const decoder = new FrameDecoder();
    const header = encodeFrame(Event.stdout, 2, Buffer.alloc(0));
    header.writeUInt32BE(0xffffffff, 5);
    rejects(decoder, header, /4294967295-byte payload/);
    // The stream is not trusted again, not even with valid frames.
    rejects(decoder, sample[0] as Buffer, /4294967295-byte payload/);
  });

  it('refuses output frames over the event bound, and unknown, misaddressed or malformed events', () => {
    const cases: Array<[Buffer, RegExp]> = [
      [encodeFrame(Event.stdout, 3, Buffer.alloc(MAX_EVENT_PAYLOAD + 1)), /payload/],
      [encodeFrame('Q', 3, Buffer.alloc(1)), /unknown event type "Q"/],
      [encodeFrame('\u0000', 0), /unknown event type 0x0/],
      [encodeFrame(Event.exit, 3, Buffer.alloc(5)), /5-byte payload/],
      [encodeFrame(Event.started, 3, Buffer.alloc(3)), /3-byte payload/],
      [encodeFrame(Event.exit, 0, u32(0)), /for id 0/],
      [encodeFrame(Event.stdout, PING_ID, Buffer.from('x')), /for id 4294967295/],
      [encodeFrame(Event.file, 9, Buffer.from('c/x')), /for id 9/],
      [encodeFrame(Event.file, 0, Buffer.from('x/workspace/a')), /unknown kind/],
      [encodeFrame(Event.file, 0, Buffer.from('crelative')), /not absolute/],
      [encodeFrame(Event.file, 0, Buffer.from('c/a\u0000b')), /NUL/],
      [encodeFrame(Event.pong, 0, Buffer.alloc(16)), /for id 0/],
      [encodeFrame(Event.custom, 0, Buffer.alloc(0)), /0-byte payload/],
    ];
    for (const [bytes, pattern] of cases) rejects(new FrameDecoder(), bytes, pattern);
  });

  it('keeps the slices of a payload split over many chunks and copies them once', () => {
    const payload = Buffer.alloc(MAX_EVENT_PAYLOAD, 7);
    const frame = encodeFrame(Event.stdout, 1, payload);
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    for (let at = 0; at < frame.length; at += 1000)
      frames.push(...decoder.push(frame.subarray(at, at + 1000)));
    assert.equal(frames.length, 1);
    assert.ok(frames[0]?.payload.equals(payload));
  });

  it('resyncs on the pong of a ping, skipping a stream joined mid-frame', () => {
    const nonce = Buffer.alloc(16, 9);
    const decoder = new FrameDecoder();
    decoder.resyncOn(nonce);
    const midFrame = encodeFrame(Event.stdout, 1, Buffer.alloc(100, 0x41)).subarray(40);
    const pong = encodeFrame(Event.pong, PING_ID, nonce);
    const after = encodeFrame(Event.stdout, 1, Buffer.from('after'));
    const stream = Buffer.concat([midFrame, Buffer.from('garbage Z\u0000\u0000'), pong, after]);
    const frames = [...stream].flatMap((byte) => decoder.push(Buffer.from([byte])));
    assert.deepEqual(
      frames.map((f) => f.type),
      [Event.pong, Event.stdout],
    );
    assert.equal(frames[1]?.payload.toString(), 'after');
  });

  it('gives up a resync that finds no pong within its bound', () => {
    const decoder = new FrameDecoder();
    decoder.resyncOn(Buffer.alloc(16, 3));
    const zeros = Buffer.alloc(1024 * 1024);
    let pushed = 0;
    assert.throws(() => {
      while (pushed <= MAX_RESYNC_BYTES + zeros.length) {
        decoder.push(zeros);
        pushed += zeros.length;
      }
    }, /no answer to the resync ping/);
    assert.ok(pushed <= MAX_RESYNC_BYTES + zeros.length);
  });
});
