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
