import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, type InstanceSpec, isFaasError } from '@faas/core';
import { Instance, type InstanceState } from './instance.ts';
import { InstanceQuota } from './instance-quota.ts';

const spec = { image: 'x' } as InstanceSpec;
let n = 0;
function instance(owner: string | undefined, state: InstanceState = 'running'): Instance {
  const made = new Instance(`inst_${++n}`, spec, 'c', Date.now(), owner);
  made.state = state;
  return made;
}

const limited = (err: unknown, setting: string) =>
  isFaasError(err) &&
  err.code === ErrorCode.INSTANCE_LIMIT &&
  err.status === 429 &&
  (err.details as { setting: string }).setting === setting;

describe('InstanceQuota', () => {
  it('counts live instances per owner and in all; stopped, failed and deleted ones do not count', () => {
    const instances = [
      instance('a'),
      instance('a', 'starting'),
      instance('a', 'stopped'),
      instance('a', 'failed'),
      instance('b', 'checkpointing'),
      instance(undefined),
    ];
    const quota = new InstanceQuota({ maxLive: 5, maxLivePerOwner: 2 }, () => instances);
    assert.throws(
      () => quota.reserve('a', 1),
      (err) => limited(err, 'FAAS_INSTANCE_MAX_PER_KEY'),
    );
    quota.reserve('b', 1).release();
    assert.throws(
      () => quota.reserve('b', 2),
      (err) => limited(err, 'FAAS_INSTANCE_MAX_PER_KEY'),
    );
    // Ownerless instances (auth off) count only in all.
    quota.reserve(undefined, 1).release();
    assert.throws(
      () => quota.reserve(undefined, 2),
      (err) => limited(err, 'FAAS_INSTANCE_MAX_TOTAL'),
    );
  });

  it('holds reserved room until it is taken or released, so instances made at once cannot pass a bound', () => {
    const instances: Instance[] = [];
    const quota = new InstanceQuota({ maxLive: 10, maxLivePerOwner: 2 }, () => instances);
    const first = quota.reserve('a', 1);
    const second = quota.reserve('a', 1);
    assert.throws(
      () => quota.reserve('a', 1),
      (err) => limited(err, 'FAAS_INSTANCE_MAX_PER_KEY'),
    );
    // The first is listed: it counts itself, its room is given back; the total stays 2.
    instances.push(instance('a', 'starting'));
    first.take();
    first.release();
    assert.throws(() => quota.reserve('a', 1));
    // The second failed: its room comes back.
    second.release();
    second.release();
    quota.reserve('a', 1).release();
  });

  it('a fork reserves all its instances at once', () => {
    const quota = new InstanceQuota({ maxLive: 3, maxLivePerOwner: 3 }, () => []);
    assert.throws(
      () => quota.reserve('a', 4),
      (err) => limited(err, 'FAAS_INSTANCE_MAX_PER_KEY'),
    );
    const fork = quota.reserve('a', 3);
    assert.throws(
      () => quota.reserve('b', 1),
      (err) => limited(err, 'FAAS_INSTANCE_MAX_TOTAL'),
    );
    fork.release();
    quota.reserve('b', 1);
  });
});
