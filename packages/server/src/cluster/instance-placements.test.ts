import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, type InstanceView, isFaasError } from '@faas/core';
import { connectRedis } from '../queue/redis/redis-connection.ts';
import { dropQueueKeys, NO_REDIS, TEST_REDIS_URL } from '../queue/redis/test-support.ts';
import { InstancePlacements } from './instance-placements.ts';

const view = (id: string): InstanceView =>
  ({ id, status: 'running', reason: null, created_at: new Date().toISOString() }) as InstanceView;

describe('InstancePlacements (Redis)', { skip: TEST_REDIS_URL ? false : NO_REDIS }, () => {
  const prefix = `test:placements:${randomUUID().slice(0, 8)}`;
  let placements: InstancePlacements;
  const connect = () =>
    connectRedis({
      url: TEST_REDIS_URL as string,
      setting: 'FAAS_QUEUE_URL',
      timeoutMs: 1_000,
      logger: console,
    });

  before(async () => {
    placements = new InstancePlacements(await connect(), prefix);
  });
  after(async () => {
    await placements.close();
    await dropQueueKeys(TEST_REDIS_URL as string, prefix);
  });

  it('marks lost only the restarted node’s entries it did not find again, once', async () => {
    await placements.record('node-a', 'team-a', view('inst_kept'), undefined, true);
    await placements.record('node-a', 'team-a', view('inst_gone'), undefined, true);
    await placements.record('node-b', 'team-b', view('inst_other'), undefined, true);
    const reason = 'its worker node-a restarted without its container';
    assert.equal(await placements.markLost('node-a', new Set(['inst_kept']), reason), 1);
    assert.equal((await placements.get('inst_gone'))?.lost, reason);
    assert.equal((await placements.get('inst_kept'))?.lost, undefined);
    assert.equal((await placements.get('inst_other'))?.lost, undefined);
    // Another restart that found nothing: the entry marked already keeps its reason and is not
    // counted again; the other one is marked now.
    assert.equal(await placements.markLost('node-a', new Set(), reason), 1);
    await placements.remove('inst_gone');
    assert.equal(await placements.get('inst_gone'), undefined);
    assert.deepEqual((await placements.list()).map((p) => p.view.id).sort(), ['inst_kept', 'inst_other']);
  });

  it("holds room for a project's instances over the cluster, all at once: racing creates never pass the limit", async () => {
    await placements.record('node-a', 'team-r', view('inst_r1'), undefined, true);
    await placements.record('node-a', 'team-other', view('inst_o1'), undefined, true);
    // One instance placed, room for two held: a third is refused, another project's is not.
    const two = await placements.reserve('team-r', 2, { projectLimit: 3 });
    assert.ok('release' in two);
    assert.deepEqual(await placements.reserve('team-r', 1, { projectLimit: 3 }), { over: 'project', has: 3 });
    const other = await placements.reserve('team-other', 1, { projectLimit: 2 });
    assert.ok('release' in other);
    await two.release();
    await other.release();
    // Twenty creates at once with room for four: exactly four get it.
    const raced = await Promise.all(
      Array.from({ length: 20 }, () => placements.reserve('team-r', 1, { projectLimit: 5 })),
    );
    const taken = raced.filter((r) => 'release' in r);
    assert.equal(taken.length, 4);
    await Promise.all(taken.map((room) => room.release()));
    // Room a dead worker held ends with its time; an unreadable entry is dropped, not counted.
    const redis = await connect();
    try {
      const room = `{${prefix}}:cluster:instances-making`;
      await redis.hset(room, 'stale', JSON.stringify({ project: 'team-r', count: 4, until: Date.now() - 1 }));
      await redis.hset(room, 'garbage', '{not json');
      const after = await placements.reserve('team-r', 4, { projectLimit: 5 });
      assert.ok('release' in after);
      const held = await redis.hkeys(room);
      assert.equal(held.length, 1, 'only the room just taken');
      assert.ok(!held.includes('stale') && !held.includes('garbage'));
      await after.release();
      assert.equal(await redis.hlen(room), 0);
    } finally {
      redis.disconnect();
    }
  });

  it("holds an API key to its bound on live instances over the cluster: stopped, lost and dead workers' do not count", async () => {
    const redis = await connect();
    try {
      await redis.set(`{${prefix}}:cluster:node:node-up`, '{}', 'PX', 60_000);
      const bound = { owner: { id: 'key-1', limit: 3 } };
      await placements.record('node-up', 'team-k', view('inst_k1'), 'key-1', true);
      await placements.record('node-up', 'team-k', view('inst_k2'), 'key-1', true);
      await placements.record('node-up', 'team-k', view('inst_k3'), 'key-2', true);
      // Made stopped (a restore of a stopped one), and on a worker out of the registry.
      await placements.record('node-up', 'team-k', view('inst_k4'), 'key-1', false);
      await placements.record('node-gone', 'team-k', view('inst_k5'), 'key-1', true);
      assert.deepEqual(await placements.reserve('team-k', 2, bound), { over: 'owner', has: 2 });
      const one = await placements.reserve('team-k', 1, bound);
      assert.ok('release' in one);
      // Room held counts until it is given back.
      assert.deepEqual(await placements.reserve('team-k', 1, bound), { over: 'owner', has: 3 });
      await one.release();
      // Stopped, it does not count; started again, it does.
      await placements.setLive('inst_k1', false);
      const two = await placements.reserve('team-k', 2, bound);
      assert.ok('release' in two);
      await two.release();
      await placements.setLive('inst_k1', true);
      assert.deepEqual(await placements.reserve('team-k', 2, bound), { over: 'owner', has: 2 });
      // Lost (its worker came back without it): not live.
      await placements.markLost('node-up', new Set(['inst_k1', 'inst_k3', 'inst_k4']), 'gone');
      assert.deepEqual(await placements.reserve('team-k', 3, bound), { over: 'owner', has: 1 });
      // An entry removed takes its id out of its owner's live set; a start told after that
      // leaves nothing behind, and an id whose entry went otherwise is dropped as it is read.
      const live = `{${prefix}}:cluster:instances-live:key-1`;
      await placements.remove('inst_k2');
      assert.equal(await redis.sismember(live, 'inst_k2'), 0);
      await placements.setLive('inst_k2', true);
      assert.equal(await redis.sismember(live, 'inst_k2'), 0);
      await redis.sadd(live, 'inst_stray');
      const room = await placements.reserve('team-k', 2, bound);
      assert.ok('release' in room);
      await room.release();
      assert.equal(await redis.sismember(live, 'inst_stray'), 0);
      // Twenty creates of one key at once, room for four: exactly four get it.
      const raced = await Promise.all(
        Array.from({ length: 20 }, () =>
          placements.reserve('team-k', 1, { owner: { id: 'key-3', limit: 4 } }),
        ),
      );
      const taken = raced.filter((r) => 'release' in r);
      assert.equal(taken.length, 4);
      await Promise.all(taken.map((room) => room.release()));
    } finally {
      redis.disconnect();
    }
  });

  it('answers STORAGE_UNAVAILABLE, not a crash or a 500, when Redis does not answer', async () => {
    const broken = new InstancePlacements(await connect(), prefix);
    await broken.close();
    await assert.rejects(
      broken.get('inst_kept'),
      (err) => isFaasError(err) && err.code === ErrorCode.STORAGE_UNAVAILABLE,
    );
    await assert.rejects(
      broken.record('node-a', 'team-a', view('inst_x'), undefined, true),
      (err) => isFaasError(err) && err.code === ErrorCode.STORAGE_UNAVAILABLE,
    );
  });
});
