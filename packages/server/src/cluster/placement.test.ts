import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterNodeRecord } from '@faas/core';
import { pickWorker } from './placement.ts';

const node = (id: string, score: number, extra: Partial<ClusterNodeRecord> = {}): ClusterNodeRecord => ({
  id,
  role: 'worker',
  url: `http://${id}:8080`,
  capacity: { cpus: 2, memoryMb: 4096 },
  load: { cpu: score, memory: score, io: score, score },
  running: 0,
  warm: [],
  startedAt: '2026-12-06T00:00:00.000Z',
  heartbeatAt: '2026-12-06T00:00:00.000Z',
  ...extra,
});

describe('pickWorker', () => {
  it('takes a worker with a warm container of the version before a less loaded one', () => {
    const nodes = [node('a', 5), node('b', 80, { warm: ['fn:2'] }), node('c', 90, { warm: ['fn:1'] })];
    assert.equal(pickWorker(nodes, 'fn:2')?.id, 'b');
    assert.equal(pickWorker(nodes, 'other:1')?.id, 'a');
  });

  it('takes the lowest load score, then the fewest running calls, then the id', () => {
    assert.equal(pickWorker([node('a', 40), node('b', 12.5), node('c', 30)], undefined)?.id, 'b');
    assert.equal(
      pickWorker([node('a', 10, { running: 3 }), node('b', 10, { running: 1 })], undefined)?.id,
      'b',
    );
    assert.equal(pickWorker([node('b', 10), node('a', 10)], undefined)?.id, 'a');
  });

  it('passes over workers already tried, and nodes that are not workers', () => {
    const nodes = [node('a', 1, { warm: ['fn:1'] }), node('b', 50), node('g', 0, { role: 'gateway' })];
    assert.equal(pickWorker(nodes, 'fn:1', new Set(['a']))?.id, 'b');
    assert.equal(pickWorker(nodes, 'fn:1', new Set(['a', 'b'])), undefined);
    assert.equal(pickWorker([], 'fn:1'), undefined);
  });
});
