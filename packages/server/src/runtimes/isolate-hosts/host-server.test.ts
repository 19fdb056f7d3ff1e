import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FunctionVersion, InvokeRequest, Runtime } from '@faas/core';
import { FrameReader } from './frames.ts';
import {
  decodeLogs,
  decodeOutcomes,
  EventKind,
  encodeDefine,
  encodeInvokeBatch,
  MessageType,
} from './host-protocol.ts';
import { HostServer } from './host-server.ts';

const fn = {
  name: 'slow-logger',
  version: 1,
  runtime: 'js',
  handler: 'index.default',
  env: {},
  timeoutMs: 5000,
  memoryMb: 64,
  maxConcurrency: 1,
  maxRetries: 0,
  routes: [],
  description: '',
  codeSha256: 'a'.repeat(64),
  codeSizeBytes: 1,
  artifactSha256: 'a'.repeat(64),
  createdAt: '2026-01-01T00:00:00.000Z',
} as FunctionVersion;

/**
 * Console lines leave the host as they are written, not with the outcome: a host that is killed
 * because a function would not stop has already sent what its functions wrote (issue 11's lost
 * line). A stand-in runtime writes a line, then takes its time.
 */
describe('HostServer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'faas-host-server-'));
  const socketPath = join(dir, 'host.sock');
  let server: HostServer;
  let finish: () => void = () => {};

  before(async () => {
    const runtime = {
      invoke: (request: InvokeRequest) =>
        new Promise((resolve) => {
          request.log('info', 'written before the outcome');
          finish = () => resolve({ status: 'succeeded', result: 1, metrics: { durationMs: 1 } });
        }),
    } as unknown as Runtime;
    server = await HostServer.listen({ socketPath, runtime, maxFrameBytes: 1 << 20 });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("sends a running invocation's lines before its outcome, in frames of their own", {
    timeout: 10_000,
  }, async () => {
    const socket = connect(socketPath);
    const reader = new FrameReader(1 << 20);
    const frames: Array<{ type: number; body: Buffer }> = [];
    let arrived: () => void = () => {};
    socket.on('data', (chunk: Buffer) => {
      frames.push(...reader.push(chunk));
      arrived();
    });
    const next = async (type: number) => {
      for (;;) {
        const at = frames.findIndex((f) => f.type === type);
        if (at >= 0) return frames.splice(at, 1)[0] as { type: number; body: Buffer };
        await new Promise<void>((resolve) => {
          arrived = resolve;
        });
      }
    };
    await next(MessageType.hello);
    socket.write(encodeDefine(1, fn));
    socket.write(
      encodeInvokeBatch([
        {
          seq: 7,
          versionId: 1,
          deadline: Date.now() + 5000,
          invocationId: 'inv_1',
          traceparent: '',
          eventKind: EventKind.undefined,
          payload: new Uint8Array(0),
        },
      ]),
    );
    const logs = decodeLogs((await next(MessageType.logs)).body);
    assert.deepEqual(
      logs.map((b) => [b.seq, b.logs.map((l) => l.message)]),
      [[7, ['written before the outcome']]],
    );
    assert.ok(!frames.some((f) => f.type === MessageType.outcomes), 'the outcome is not sent yet');
    finish();
    const [outcome] = decodeOutcomes((await next(MessageType.outcomes)).body);
    assert.equal(outcome?.seq, 7);
    assert.deepEqual(outcome?.logs, [], 'the line is not sent twice');
    socket.destroy();
  });
});
