import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterNodeRecord, NodeRegistry } from '@faas/core';
import { InFlightCalls } from './in-flight-calls.ts';
import { pickWorker, standbysOf } from './placement.ts';
import { shareOut } from './spread-fork.ts';
import { type DirectoryNode, toDirectoryNode, WorkerDirectory } from './worker-directory.ts';

const HEARTBEAT = '2026-12-06T00:00:00.000Z';
const record = (id: string, score: number, extra: Partial<ClusterNodeRecord> = {}): ClusterNodeRecord => ({
  id,
  role: 'worker',
  url: `http://${id}:8080`,
  capacity: { cpus: 2, memoryMb: 4096 },
  load: { cpu: score, memory: score, io: score, score },
  running: 0,
  warm: [],
  idle: {},
  startedAt: HEARTBEAT,
  heartbeatAt: HEARTBEAT,
  ...extra,
});
const node = (id: string, score: number, extra: Partial<ClusterNodeRecord> = {}): DirectoryNode =>
  toDirectoryNode(record(id, score, extra));
const afterHeartbeat = Date.parse(HEARTBEAT) + 10;

describe('pickWorker', () => {
  it('takes a worker with an idle warm container of the version before a less loaded one', () => {
    const nodes = [
      node('a', 5),
      node('b', 80, { warm: ['fn:2'], idle: { 'fn:2': 1 } }),
      node('c', 90, { warm: ['fn:1'], idle: { 'fn:1': 1 } }),
    ];
    assert.equal(pickWorker(nodes, 'fn:2')?.id, 'b');
    assert.equal(pickWorker(nodes, 'other:1')?.id, 'a');
  });

  it('does not favour a worker whose warm containers of the version are all busy: the call spreads', () => {
    const nodes = [node('a', 20, { warm: ['fn:1'], idle: {}, running: 1 }), node('b', 10)];
    assert.equal(pickWorker(nodes, 'fn:1')?.id, 'b');
    // A record from a worker that does not send idle counts: warm alone is not taken for idle.
    const old = record('a', 20, { warm: ['fn:1'] });
    delete old.idle;
    assert.equal(pickWorker([toDirectoryNode(old), node('b', 10)], 'fn:1')?.id, 'b');
  });

  it('places nothing on a draining worker, however idle or warm', () => {
    const nodes = [node('a', 0, { warm: ['fn:1'], idle: { 'fn:1': 2 }, draining: true }), node('b', 90)];
    assert.equal(pickWorker(nodes, 'fn:1')?.id, 'b');
    assert.equal(pickWorker([nodes[0] as DirectoryNode], undefined), undefined);
  });

  it('takes the lowest load score, then the fewest running calls, then the id', () => {
    assert.equal(pickWorker([node('a', 40), node('b', 12.5), node('c', 30)], undefined)?.id, 'b');
    assert.equal(
      pickWorker([node('a', 10, { running: 3 }), node('b', 10, { running: 1 })], undefined)?.id,
      'b',
    );
    assert.equal(pickWorker([node('b', 10), node('a', 10)], undefined)?.id, 'a');
  });

  it('restores a snapshot where a standby of it waits, before a less loaded worker', () => {
    const nodes = [
      node('a', 5),
      node('b', 60, { standbys: { snap_1: 1 } }),
      node('c', 70, { idle: { snap_2: 1 } }),
    ];
    assert.equal(pickWorker(nodes, 'snap_1', new Set(), undefined, standbysOf)?.id, 'b');
    // Idle containers of a function are no standbys, nor are another snapshot's.
    assert.equal(pickWorker(nodes, 'snap_2', new Set(), undefined, standbysOf)?.id, 'a');
    // Without standbys (a worker from before they were sent): by load.
    assert.equal(
      pickWorker([node('a', 5), node('b', 60)], 'snap_1', new Set(), undefined, standbysOf)?.id,
      'a',
    );
  });

  it('shares a fork out to the standbys first, then by load', () => {
    const a = node('a', 10);
    const b = node('b', 60, { standbys: { snap_1: 2 } });
    const shares = (count: number) =>
      Object.fromEntries([...shareOut([a, b], 'snap_1', count)].map(([n, share]) => [n.id, share]));
    assert.deepEqual(shares(2), { b: 2 });
    // b's two standbys, then a (lower score) until its guessed load passes b's.
    assert.deepEqual(shares(4), { b: 2, a: 2 });
  });

  it('passes over workers already tried, and nodes that are not workers', () => {
    const nodes = [
      node('a', 1, { warm: ['fn:1'], idle: { 'fn:1': 1 } }),
      node('b', 50),
      node('g', 0, { role: 'gateway' }),
    ];
    assert.equal(pickWorker(nodes, 'fn:1', new Set(['a']))?.id, 'b');
    assert.equal(pickWorker(nodes, 'fn:1', new Set(['a', 'b'])), undefined);
    assert.equal(pickWorker([], 'fn:1'), undefined);
  });

  it("counts the gateway's own calls since each heartbeat, so a burst spreads over the workers", () => {
    const inFlight = new InFlightCalls();
    const nodes = [node('a', 10), node('b', 11)];
    const placed: string[] = [];
    for (let i = 0; i < 4; i++) {
      const chosen = pickWorker(nodes, 'fn:1', new Set(), inFlight.unseen);
      assert.ok(chosen);
      placed.push(chosen.id);
      inFlight.start(chosen.id, 'fn:1', afterHeartbeat);
    }
    assert.deepEqual(placed.sort(), ['a', 'a', 'b', 'b']);
  });

  it('takes each idle container once between heartbeats, then spreads', () => {
    const inFlight = new InFlightCalls();
    const nodes = [node('a', 30, { warm: ['fn:1'], idle: { 'fn:1': 2 } }), node('b', 5)];
    const placed: string[] = [];
    for (let i = 0; i < 3; i++) {
      const chosen = pickWorker(nodes, 'fn:1', new Set(), inFlight.unseen);
      assert.ok(chosen);
      placed.push(chosen.id);
      inFlight.start(chosen.id, 'fn:1', afterHeartbeat);
    }
    assert.deepEqual(placed, ['a', 'a', 'b']);
  });

  it('does not count twice a call the heartbeat already shows, nor one that ended', () => {
    const inFlight = new InFlightCalls();
    // Started before the heartbeat: its container is in the worker's busy count already.
    inFlight.start('a', 'fn:1', Date.parse(HEARTBEAT) - 100);
    const nodes = [node('a', 10, { warm: ['fn:1'], idle: { 'fn:1': 1 }, running: 1 }), node('b', 0)];
    assert.equal(pickWorker(nodes, 'fn:1', new Set(), inFlight.unseen)?.id, 'a');
    const done = inFlight.start('a', 'fn:1', afterHeartbeat);
    assert.equal(pickWorker(nodes, 'fn:1', new Set(), inFlight.unseen)?.id, 'b');
    done();
    assert.equal(pickWorker(nodes, 'fn:1', new Set(), inFlight.unseen)?.id, 'a');
    assert.deepEqual(inFlight.unseen(nodes[1] as DirectoryNode, 'fn:1'), { calls: 0, sameVersion: 0 });
  });

  it('gives back a container the heartbeat showed busy when the call on it ended since', () => {
    // Sequential calls to a warm version must not go cold elsewhere because the last heartbeat
    // happened to be taken while one was running.
    const inFlight = new InFlightCalls();
    const end = inFlight.start('a', 'fn:1', Date.parse(HEARTBEAT) - 100);
    const nodes = [node('a', 30, { warm: ['fn:1'], idle: {}, running: 1 }), node('b', 0)];
    assert.equal(pickWorker(nodes, 'fn:1', new Set(), inFlight.unseen)?.id, 'b');
    end(true, afterHeartbeat);
    assert.equal(pickWorker(nodes, 'fn:1', new Set(), inFlight.unseen)?.id, 'a');
    // A newer heartbeat shows it ended: the correction is dropped, the heartbeat's counts rule.
    const later = new Date(afterHeartbeat + 1).toISOString();
    const fresh = [node('a', 30, { warm: ['fn:1'], idle: {}, heartbeatAt: later }), node('b', 0)];
    assert.equal(pickWorker(fresh, 'fn:1', new Set(), inFlight.unseen)?.id, 'b');
  });

  it('a call the worker never saw holds nothing there', () => {
    const inFlight = new InFlightCalls();
    const end = inFlight.start('a', 'fn:1', afterHeartbeat);
    end(false);
    assert.deepEqual(inFlight.unseen(node('a', 0), 'fn:1'), { calls: 0, sameVersion: 0 });
  });
});

describe('WorkerDirectory', () => {
  it("parses each heartbeat's time once, when it reads the registry, for placement to compare", async () => {
    const later = new Date(afterHeartbeat + 1).toISOString();
    const listed = [
      record('a', 10),
      record('b', 20, { heartbeatAt: later }),
      record('c', 30, { heartbeatAt: 'garbage' }),
    ];
    const registry: NodeRegistry = {
      heartbeat: async () => {},
      leave: async () => {},
      list: async () => listed,
      close: async () => {},
    };
    const directory = new WorkerDirectory(registry, (err) => assert.fail(String(err)));
    await directory.refresh();
    assert.deepEqual(
      directory.nodes().map((n) => [n.id, n.heartbeatMs]),
      [
        ['a', Date.parse(HEARTBEAT)],
        ['b', afterHeartbeat + 1],
        ['c', Number.NaN],
      ],
    );
    // An unreadable time: every call running there counts as unseen, so the worker looks busier.
    const inFlight = new InFlightCalls();
    inFlight.start('c', 'fn:1', Date.parse(HEARTBEAT) - 100);
    assert.deepEqual(inFlight.unseen(directory.nodes()[2] as DirectoryNode, 'fn:1'), {
      calls: 1,
      sameVersion: 1,
    });
    directory.stop();
  });
});
