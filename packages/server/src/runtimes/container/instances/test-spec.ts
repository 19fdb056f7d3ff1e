import type { InstanceSpec } from '@faas/core';

/** A small instance spec for unit tests of instances and their agent link (no engine is asked). */
export const TEST_SPEC: InstanceSpec = {
  image: 'x',
  env: {},
  memoryMb: 64,
  cpus: 1,
  pidsLimit: 64,
  diskMb: 64,
  network: false,
  isolation: 'runc',
  idleTtlMs: 0,
};
