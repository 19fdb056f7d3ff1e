import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { loadConfig } from '@faas/core';
import { reusePortSupported } from './gateway/threads/port-owners.ts';
import { gatewayThreadCount } from './main.ts';

describe('gatewayThreadCount', {
  skip: reusePortSupported() ? false : 'no SO_REUSEPORT here: always 1',
}, () => {
  const count = (env: Record<string, string>, role: 'all' | 'gateway' | 'worker') =>
    gatewayThreadCount({ ...loadConfig(env), role });

  it('is one per core, at most 4, on a gateway or a single server', () => {
    const perCore = Math.min(4, availableParallelism());
    assert.equal(count({}, 'all'), perCore);
    assert.equal(count({}, 'gateway'), perCore);
  });

  it('is 1 on a worker by default: its calls are for the main thread, a gateway thread would pass them on', () => {
    assert.equal(count({}, 'worker'), 1);
  });

  it('is what FAAS_GATEWAY_THREADS says when set, on every role', () => {
    for (const role of ['all', 'gateway', 'worker'] as const) {
      assert.equal(count({ FAAS_GATEWAY_THREADS: '3' }, role), 3);
    }
  });
});
