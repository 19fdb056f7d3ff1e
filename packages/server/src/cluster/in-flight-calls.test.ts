import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InFlightCalls } from './in-flight-calls.ts';
import type { DirectoryNode } from './worker-directory.ts';

/** A small seeded generator, so a failure names a sequence that can be run again. */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

interface ModelCall {
  node: string;
  versionKey: string;
  startedAt: number;
  endedAt?: number;
  dropped?: boolean;
}

/** What `unseen` must answer, from every call ever made (the definition, walked in full). */
function expected(calls: ModelCall[], node: string, heartbeat: number, versionKey: string) {
  let unseen = 0;
  let sameVersion = 0;
  for (const call of calls) {
    if (call.node !== node || call.dropped) continue;
    if (call.endedAt !== undefined && call.endedAt < heartbeat) continue;
    const startedSince = !(call.startedAt < heartbeat);
    let change = 0;
    if (call.endedAt === undefined && startedSince) change = 1;
    else if (call.endedAt !== undefined && !startedSince) change = -1;
    unseen += change;
    if (call.versionKey === versionKey) sameVersion += change;
  }
  return { calls: unseen, sameVersion };
}

describe('InFlightCalls', () => {
  it('forgets a call a heartbeat showed ended, even when a later heartbeat is older than its end', () => {
    const inFlight = new InFlightCalls();
    const at = (heartbeatMs: number) => ({ id: 'w', heartbeatMs }) as DirectoryNode;
    inFlight.start('w', 'fn:1', 0);
    assert.deepEqual(inFlight.unseen(at(1000), 'fn:1'), { calls: 0, sameVersion: 0 });
    inFlight.start('w', 'fn:1', 500)(true, 900);
    assert.deepEqual(inFlight.unseen(at(1000), 'fn:1'), { calls: 0, sameVersion: 0 });
    // A worker's clock stepped back: the call it showed ended is not counted as ended since.
    assert.deepEqual(inFlight.unseen(at(800), 'fn:1'), { calls: 0, sameVersion: 0 });
  });

  it('answers what walking every call would, through starts, ends, dropped calls and moving heartbeats', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const next = random(seed);
      const inFlight = new InFlightCalls();
      const calls: ModelCall[] = [];
      const ends: { call: ModelCall; end: (reached?: boolean, endedAt?: number) => void }[] = [];
      const heartbeats: Record<string, number> = { a: 0, b: 0 };
      let now = 1_000;
      for (let step = 0; step < 400; step++) {
        now += Math.floor(next() * (next() < 0.02 ? 12_000 : 200));
        const roll = next();
        const nodeId = next() < 0.5 ? 'a' : 'b';
        if (roll < 0.4) {
          const versionKey = next() < 0.5 ? 'fn:1' : 'fn:2';
          // A start forgets its worker's calls that ended over 10 s ago (its worker may have left).
          for (const old of calls) {
            if (old.node === nodeId && old.endedAt !== undefined && now - old.endedAt > 10_000)
              old.dropped = true;
          }
          const call: ModelCall = { node: nodeId, versionKey, startedAt: now };
          calls.push(call);
          ends.push({ call, end: inFlight.start(nodeId, versionKey, now) });
        } else if (roll < 0.75 && ends.length > 0) {
          const [ending] = ends.splice(Math.floor(next() * ends.length), 1);
          if (!ending) continue;
          if (next() < 0.1) {
            ending.call.dropped = true;
            ending.end(false, now);
          } else {
            ending.call.endedAt = now;
            ending.end(true, now);
          }
        } else if (roll < 0.85) {
          // A heartbeat from a moment up to a second back, or an unreadable one.
          heartbeats[nodeId] = next() < 0.05 ? Number.NaN : now - Math.floor(next() * 1_000);
        }
        // Calls an earlier heartbeat showed ended are gone for later ones too, as in the class.
        for (const id of ['a', 'b']) {
          const heartbeat = heartbeats[id] as number;
          const node = { id, heartbeatMs: heartbeat } as DirectoryNode;
          for (const versionKey of ['fn:1', 'fn:2']) {
            assert.deepEqual(
              inFlight.unseen(node, versionKey),
              expected(calls, id, heartbeat, versionKey),
              `seed ${seed}, step ${step}, node ${id}, ${versionKey}`,
            );
          }
          for (const call of calls) {
            if (call.node === id && call.endedAt !== undefined && call.endedAt < heartbeat)
              call.dropped = true;
          }
        }
      }
    }
  });
});
