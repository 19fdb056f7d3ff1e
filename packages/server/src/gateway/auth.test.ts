import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ApiKeyRecord, ErrorCode, FaasError, isFaasError, type MetadataStore } from '@faas/core';
import { ApiKeyService } from '../control/api-key-service.ts';
import { AuthThrottle } from '../control/auth-throttle.ts';
import { authenticate } from './auth.ts';

const secret = `faas_${'a'.repeat(40)}`;
const record = {
  id: 'key_1',
  name: 'k',
  project: 'default',
  role: 'developer',
  prefix: 'faas_aaaaaa',
  hash: 'x',
  createdAt: '2025-01-01T00:00:00.000Z',
} as ApiKeyRecord;

/** Keys over a store that is down while `down.now`; two failures throttle an address. */
function keysWithOutage(down: { now: boolean }): ApiKeyService {
  const store = {
    findApiKeyByHash: async (hash: string) => {
      if (down.now) throw new FaasError(ErrorCode.STORAGE_UNAVAILABLE, 'The store is unreachable');
      return hash === 'unknown' ? undefined : record;
    },
  } as unknown as MetadataStore;
  return new ApiKeyService(store, undefined, new AuthThrottle({ limit: 2, windowMs: 60_000 }));
}

async function codeOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
    return 'ok';
  } catch (err) {
    return isFaasError(err) ? err.code : String(err);
  }
}

describe('authenticate', () => {
  it('a store outage is 503 and counts as no failed authentication: the valid key works once the store is back', async () => {
    const down = { now: true };
    const keys = keysWithOutage(down);
    const codes: string[] = [];
    for (let i = 0; i < 5; i++) codes.push(await codeOf(authenticate(keys, `Bearer ${secret}`, '10.0.0.7')));
    assert.deepEqual(codes, Array(5).fill(ErrorCode.STORAGE_UNAVAILABLE));
    down.now = false;
    assert.equal(await codeOf(authenticate(keys, `Bearer ${secret}`, '10.0.0.7')), 'ok');
  });

  it('a wrong key still counts', async () => {
    const keys = keysWithOutage({ now: false });
    const codes: string[] = [];
    for (let i = 0; i < 3; i++) codes.push(await codeOf(authenticate(keys, 'Bearer', '10.0.0.8')));
    assert.deepEqual(codes, [ErrorCode.UNAUTHORIZED, ErrorCode.UNAUTHORIZED, ErrorCode.AUTH_THROTTLED]);
  });
});
