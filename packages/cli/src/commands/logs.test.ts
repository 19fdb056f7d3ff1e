import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StoredLogLine } from '@faas/core';
import type { FaaSClient, LogStreamEvent } from '@faas/sdk';
import { logs } from './logs.ts';

/** A client whose stored lines and live events are given: what `faas logs -f` reads. */
function fakeClient(stored: StoredLogLine[], live: LogStreamEvent[]): FaaSClient {
  return {
    getFunction: async () => ({}),
    tailLogs: async () => ({ items: stored, nextSeq: stored.length }),
    followLogs: (_name: string, options: { onOpen?: () => void }) =>
      (async function* () {
        options.onOpen?.();
        yield* live;
      })(),
  } as unknown as FaaSClient;
}

/** What `faas logs name -f` printed. */
async function follow(client: FaaSClient, json = false): Promise<string> {
  const written: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((text: string) => written.push(String(text)) > 0) as typeof write;
  try {
    await logs(client, { json }, 'f', { follow: true });
  } finally {
    process.stdout.write = write;
  }
  return written.join('');
}

const line = (seq: number, ts: number, message: string): StoredLogLine => ({
  seq,
  invocationId: 'inv_1',
  functionName: 'f',
  ts,
  level: 'log',
  message,
});
const logEvent = (ts: number, message: string, invocationId = 'inv_1'): LogStreamEvent => ({
  type: 'log',
  invocationId,
  functionName: 'f',
  ts,
  level: 'log',
  message,
});

describe('faas logs -f', () => {
  // An async attempt that failed stored its lines; the retry runs while `faas logs -f` follows.
  const retried: LogStreamEvent[] = [
    {
      type: 'start',
      invocationId: 'inv_1',
      functionName: 'f',
      version: 1,
      mode: 'async',
      trigger: 'api',
      attempt: 2,
      ts: 20,
    },
    logEvent(21, 'attempt 2 output'),
    { type: 'end', invocationId: 'inv_1', functionName: 'f', status: 'succeeded', ts: 22 },
  ];

  it('prints the retry of an invocation whose first attempt is stored', async () => {
    const printed = await follow(fakeClient([line(1, 10, 'attempt 1 output')], retried));
    assert.match(printed, /attempt 1 output\n.*attempt 2 output\n$/);
  });

  it('--json prints every event of the retry', async () => {
    const printed = await follow(fakeClient([line(1, 10, 'attempt 1 output')], retried), true);
    const types = printed
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { type?: string }).type ?? 'stored');
    assert.deepEqual(types, ['stored', 'start', 'log', 'end']);
  });

  it('prints a line that is both stored and live (it finished as the stream opened) once', async () => {
    const stored = [line(1, 10, 'same'), line(2, 10, 'same'), line(3, 11, 'other')];
    const live = [logEvent(10, 'same'), logEvent(10, 'same'), logEvent(11, 'other'), logEvent(12, 'same')];
    const printed = await follow(fakeClient(stored, live));
    assert.deepEqual(
      printed
        .trim()
        .split('\n')
        .map((l) => l.split(' ').slice(-1)[0]),
      ['same', 'same', 'other', 'same'],
      'the live copies of stored lines are dropped, a later line with the same text is not',
    );
  });
});
