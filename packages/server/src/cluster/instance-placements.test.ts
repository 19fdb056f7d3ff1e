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
    await placements.record('node-a', 'team-a', view('inst_kept'));
    await placements.record('node-a', 'team-a', view('inst_gone'));
    await placements.record('node-b', 'team-b', view('inst_other'));
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
    await placements.record('node-a', 'team-r', view('inst_r1'));
    await placements.record('node-a', 'team-other', view('inst_o1'));
    // One instance placed, room for two held: a third is refused, another project's is not.
    const two = await placements.reserve('team-r', 2, 3);
    assert.ok(two);
    assert.equal(await placements.reserve('team-r', 1, 3), undefined);
    const other = await placements.reserve('team-other', 1, 2);
    assert.ok(other);
    await two();
    await other();
    // Twenty creates at once with room for four: exactly four get it.
    const raced = await Promise.all(Array.from({ length: 20 }, () => placements.reserve('team-r', 1, 5)));
    const taken = raced.filter((r) => r !== undefined);
    assert.equal(taken.length, 4);
    await Promise.all(taken.map((release) => release()));
    // Room a dead worker held ends with its time; an unreadable entry is dropped, not counted.
    const redis = await connect();
    try {
      const room = `{${prefix}}:cluster:instances-making`;
      await redis.hset(room, 'stale', JSON.stringify({ project: 'team-r', count: 4, until: Date.now() - 1 }));
      await redis.hset(room, 'garbage', '{not json');
      const after = await placements.reserve('team-r', 4, 5);
      assert.ok(after);
      const held = await redis.hkeys(room);
      assert.equal(held.length, 1, 'only the room just taken');
      assert.ok(!held.includes('stale') && !held.includes('garbage'));
      await after();
      assert.equal(await redis.hlen(room), 0);
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
      broken.record('node-a', 'team-a', view('inst_x')),
      (err) => isFaasError(err) && err.code === ErrorCode.STORAGE_UNAVAILABLE,
    );
  });
});
