import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FunctionVersion } from '@faas/core';
import { fuzz } from '@faas/testkit';
import { FrameReader, ProtocolError } from './frames.ts';
import {
  decodeDefine,
  decodeHello,
  decodeInvokeBatch,
  decodeLogs,
  decodeOutcomes,
  decodePrepare,
  decodePrepared,
  decodeRetire,
  decodeSeq,
  decodeStatsReply,
  EventKind,
  encodeDefine,
  encodeHello,
  encodeInvokeBatch,
  encodeLogs,
  encodeOutcomes,
  encodePrepare,
  encodePrepared,
  encodeRetire,
  encodeSeq,
  encodeStatsReply,
  MessageType,
} from './host-protocol.ts';

const MAX_FRAME = 64 * 1024;

/** Every decoder, by message type: what either end runs on a frame it received. */
function decode(type: number, body: Buffer): void {
  switch (type) {
    case MessageType.define:
      decodeDefine(body);
      return;
    case MessageType.invoke:
      decodeInvokeBatch(body);
      return;
    case MessageType.abort:
    case MessageType.stats:
      decodeSeq(body);
      return;
    case MessageType.prepare:
      decodePrepare(body);
      return;
    case MessageType.retire:
      decodeRetire(body);
      return;
    case MessageType.hello:
      decodeHello(body);
      return;
    case MessageType.outcomes:
      decodeOutcomes(body);
      return;
    case MessageType.logs:
      decodeLogs(body);
      return;
    case MessageType.prepared:
      decodePrepared(body);
      return;
    case MessageType.statsReply:
      decodeStatsReply(body);
      return;
    default:
      throw new ProtocolError(`unknown type ${type}`);
  }
}

const fn: FunctionVersion = {
  name: 'f',
  version: 1,
  runtime: 'js',
  handler: 'index.default',
  env: {},
  timeoutMs: 1000,
  memoryMb: 64,
  maxConcurrency: 1,
  maxRetries: 0,
  routes: [],
  description: '',
  codeSha256: 'a',
  codeSizeBytes: 1,
  artifactSha256: 'a',
  createdAt: '2026-01-01T00:00:00.000Z',
};

const seeds = [
  encodeHello(42),
  encodeDefine(1, { ...fn }),
  encodeInvokeBatch([
    {
      seq: 1,
      versionId: 1,
      deadline: 1e12,
      invocationId: 'inv_1',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      eventKind: EventKind.json,
      payload: Buffer.from('{"a":1}'),
    },
    {
      seq: 2,
      versionId: 1,
      deadline: 1e12,
      invocationId: 'inv_2',
      traceparent: '',
      eventKind: EventKind.bytes,
      payload: Buffer.from([1, 2]),
    },
  ]),
  encodeOutcomes([
    {
      seq: 1,
      outcome: { status: 'succeeded', result: { ok: true }, metrics: { durationMs: 1, cpuTimeMs: 0.5 } },
      logs: [{ level: 'info', ts: 1, message: 'hi' }],
    },
    {
      seq: 2,
      outcome: {
        status: 'timed_out',
        error: { type: 'Timeout', message: 'late' },
        metrics: { durationMs: 9 },
      },
      logs: [],
    },
    { seq: 3, platformError: { code: 'FAAS_ERR_INTERNAL', message: 'x' }, logs: [] },
    {
      seq: 4,
      outcome: { status: 'succeeded', result: new Uint8Array([7]), metrics: { durationMs: 1 } },
      logs: [],
    },
  ]),
  encodePrepare(3, 1),
  encodePrepared(3, { ok: false, loadError: { message: 'bad', details: { line: 1 } } }),
  encodeRetire('f', 1),
  encodeSeq(MessageType.abort, 9),
  encodeStatsReply(5, { warm: 1, busy: 0, byVersion: {} }),
  encodeLogs([
    { seq: 1, logs: [{ level: 'warn', ts: 2, message: 'still running' }] },
    { seq: 2, logs: [] },
  ]),
];

describe('isolate host protocol', () => {
  it('decodes what it encodes', () => {
    const reader = new FrameReader(MAX_FRAME);
    const frames = reader.push(Buffer.concat(seeds));
    assert.equal(frames.length, seeds.length);
    for (const frame of frames) decode(frame.type, frame.body);
    const [first] = new FrameReader(MAX_FRAME).push(seeds[3] as Buffer);
    const outcomes = decodeOutcomes((first as { body: Buffer }).body);
    assert.deepEqual(outcomes[0], {
      seq: 1,
      outcome: { status: 'succeeded', result: { ok: true }, metrics: { durationMs: 1, cpuTimeMs: 0.5 } },
      logs: [{ level: 'info', ts: 1, message: 'hi' }],
    });
    assert.deepEqual(outcomes[3]?.seq, 4);
    const [batch] = new FrameReader(MAX_FRAME).push(seeds[2] as Buffer);
    assert.deepEqual(
      decodeInvokeBatch((batch as { body: Buffer }).body).map((item) => item.traceparent),
      ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', ''],
    );
    const [logs] = new FrameReader(MAX_FRAME).push(seeds.at(-1) as Buffer);
    assert.deepEqual(decodeLogs((logs as { body: Buffer }).body), [
      { seq: 1, logs: [{ level: 'warn', ts: 2, message: 'still running' }] },
      { seq: 2, logs: [] },
    ]);
  });

  it('sends a duration that went wrong as 0 rather than a frame the client refuses', () => {
    const frame = encodeOutcomes([
      {
        seq: 1,
        outcome: {
          status: 'succeeded',
          result: 1,
          metrics: { durationMs: Number.NaN, cpuTimeMs: Number.POSITIVE_INFINITY, peakMemoryBytes: -1 },
        },
        logs: [],
      },
    ]);
    const [read] = new FrameReader(MAX_FRAME).push(frame);
    const [item] = decodeOutcomes((read as { body: Buffer }).body);
    assert.deepEqual(item, {
      seq: 1,
      outcome: { status: 'succeeded', result: 1, metrics: { durationMs: 0 } },
      logs: [],
    });
  });

  it('sends a result JSON cannot write as a failure of that call, not an exception that ends the host', () => {
    let deep: unknown[] = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const frame = encodeOutcomes([
      { seq: 1, outcome: { status: 'succeeded', result: deep, metrics: { durationMs: 1 } }, logs: [] },
      { seq: 2, outcome: { status: 'succeeded', result: 'next', metrics: { durationMs: 1 } }, logs: [] },
    ]);
    const [read] = new FrameReader(MAX_FRAME).push(frame);
    const [first, second] = decodeOutcomes((read as { body: Buffer }).body);
    const failed = first && 'outcome' in first ? first.outcome : undefined;
    assert.equal(failed?.status, 'failed');
    assert.equal(failed?.status === 'failed' && failed.error.type, 'InvalidResult');
    const next = second && 'outcome' in second ? second.outcome : undefined;
    assert.equal(next?.status === 'succeeded' && next.result, 'next');
  });

  it('reassembles frames split anywhere, copying each once', () => {
    const all = Buffer.concat(seeds);
    for (const size of [1, 2, 3, 7, 64]) {
      const reader = new FrameReader(MAX_FRAME);
      let count = 0;
      for (let at = 0; at < all.length; at += size) count += reader.push(all.subarray(at, at + size)).length;
      assert.equal(count, seeds.length, `chunks of ${size}`);
      assert.equal(reader.buffered, 0);
    }
  });

  it('refuses a frame over the limit from its header, before its body arrives', () => {
    const header = Buffer.alloc(5);
    header.writeUInt32BE(MAX_FRAME + 1, 0);
    assert.throws(() => new FrameReader(MAX_FRAME).push(header), ProtocolError);
  });

  it('survives any bytes: only a ProtocolError, never another exception or a slow parse', async () => {
    const report = await fuzz({
      seeds,
      rejects: (err) => err instanceof ProtocolError,
      run: (input) => {
        const reader = new FrameReader(MAX_FRAME);
        // Split at a point the input chooses, so chunking is fuzzed too.
        const cut = input.length > 0 ? (input[0] as number) % (input.length + 1) : 0;
        for (const part of [input.subarray(0, cut), input.subarray(cut)]) {
          for (const frame of reader.push(Buffer.from(part))) decode(frame.type, frame.body);
        }
      },
    });
    assert.ok(report.runs > 100, `ran ${report.runs}`);
  });
});
