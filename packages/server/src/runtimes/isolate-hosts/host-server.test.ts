import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
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

  it('splits outcomes into frames under the limit, and fails only an outcome that fits in none', {
    timeout: 20_000,
  }, async () => {
    // Every outcome of a turn went in one frame: two results of 0.6 × the limit made a frame the
    // thread's reader refused, and it dropped the connection (killing the host).
    const max = 1 << 20;
    const path = join(dir, 'split.sock');
    const part = Math.floor(0.6 * max);
    const sizes: Record<string, number> = { a: part, b: part, c: 2 * part };
    const host = await HostServer.listen({
      socketPath: path,
      runtime: {
        invoke: async (request: InvokeRequest) => ({
          status: 'succeeded',
          result: 'x'.repeat(sizes[request.invocationId] ?? 1),
          metrics: { durationMs: 1 },
        }),
      } as unknown as Runtime,
      maxFrameBytes: max,
    });
    const socket = connect(path);
    try {
      const reader = new FrameReader(max);
      const outcomes: ReturnType<typeof decodeOutcomes> = [];
      const done = new Promise<void>((resolve, reject) => {
        socket.on('data', (chunk: Buffer) => {
          try {
            for (const frame of reader.push(chunk)) {
              if (frame.type === MessageType.outcomes) outcomes.push(...decodeOutcomes(frame.body));
            }
            if (outcomes.length === 3) resolve();
          } catch (err) {
            reject(err);
          }
        });
      });
      socket.write(encodeDefine(1, fn));
      socket.write(
        encodeInvokeBatch(
          ['a', 'b', 'c'].map((id, i) => ({
            seq: i + 1,
            versionId: 1,
            deadline: Date.now() + 5000,
            invocationId: id,
            traceparent: '',
            eventKind: EventKind.undefined,
            payload: new Uint8Array(0),
          })),
        ),
      );
      await done;
      const bySeq = new Map(outcomes.map((item) => [item.seq, item]));
      for (const seq of [1, 2]) {
        const item = bySeq.get(seq);
        assert.ok(item && 'outcome' in item && item.outcome.status === 'succeeded', `seq ${seq}`);
        assert.equal((item.outcome as { result: string }).result.length, part);
      }
      const tooLarge = bySeq.get(3);
      assert.ok(tooLarge && 'outcome' in tooLarge && tooLarge.outcome.status === 'failed');
      assert.equal(tooLarge.outcome.error.type, 'InvalidResult');
    } finally {
      socket.destroy();
      await host.close();
    }
  });

  it('greets every connection, also those made while it starts listening', { timeout: 20_000 }, async () => {
    // Threads reconnect every few ms while a host restarts: one accepted before the host
    // listened for connections never heard a hello and waited for good. A worker thread keeps
    // connecting while this one starts the host.
    const path = join(dir, 'restart.sock');
    const worker = new Worker(
      `const { connect } = require('node:net');
      const { parentPort, workerData } = require('node:worker_threads');
      let trying = true, open = 0, greeted = 0, silent = 0;
      parentPort.once('message', () => { trying = false; if (open === 0) report(); });
      const report = () => parentPort.postMessage({ greeted, silent });
      const tryConnect = () => {
        if (!trying) return;
        const socket = connect(workerData);
        socket.on('error', () => {});
        socket.once('connect', () => {
          open++;
          const timer = setTimeout(() => done(false), 5000);
          socket.once('data', () => done(true));
          // Closed by a host's close: not a connection left waiting.
          socket.once('close', () => done(undefined));
          let ended = false;
          const done = (hello) => {
            if (ended) return;
            ended = true;
            clearTimeout(timer);
            socket.destroy();
            if (hello) greeted++; else if (hello === false) silent++;
            if (--open === 0 && !trying) report();
          };
        });
        setImmediate(tryConnect);
      };
      tryConnect();
      parentPort.postMessage('connecting');`,
      { eval: true, workerData: path },
    );
    await new Promise((resolve) => worker.once('message', resolve));
    for (let restarts = 0; restarts < 10; restarts++) {
      const host = await HostServer.listen({
        socketPath: path,
        runtime: {} as Runtime,
        maxFrameBytes: 1 << 20,
      });
      await new Promise((r) => setTimeout(r, 50));
      await host.close();
    }
    const counts = new Promise<{ greeted: number; silent: number }>((resolve) =>
      worker.once('message', resolve),
    );
    worker.postMessage('stop');
    const { greeted, silent } = await counts;
    await worker.terminate();
    assert.ok(greeted > 0, JSON.stringify({ greeted, silent }));
    assert.equal(silent, 0, `${silent} of ${greeted + silent} connections heard no hello`);
  });
});
