import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, type InstanceSpec, isFaasError, loadConfig } from '@faas/core';
import {
  checkInstanceSpec,
  checkSandboxMemory,
  instanceLimitsFrom,
  restoredSpec,
} from './instance-limits.ts';

const spec: InstanceSpec = {
  image: 'x',
  env: {},
  memoryMb: 512,
  cpus: 1,
  pidsLimit: 512,
  diskMb: 256,
  network: false,
  isolation: 'runc',
  idleTtlMs: 600_000,
};
const limits = instanceLimitsFrom(
  loadConfig({
    FAAS_INSTANCE_MAX_MEMORY_MB: '1024',
    FAAS_INSTANCE_MAX_DISK_MB: '512',
    FAAS_INSTANCE_MAX_CPUS: '2.5',
    FAAS_INSTANCE_MAX_PIDS: '1000',
    FAAS_INSTANCE_MAX_IDLE_TTL_MS: '3600000',
  }),
);

function refused(change: Partial<InstanceSpec>, pattern: RegExp): void {
  assert.throws(
    () => checkInstanceSpec({ ...spec, ...change }, limits),
    (err: unknown) =>
      isFaasError(err) &&
      err.code === ErrorCode.VALIDATION &&
      err.status === 422 &&
      pattern.test(err.message),
  );
}

describe('instance limits', () => {
  it('accepts a spec within every bound', () => {
    checkInstanceSpec(spec, limits);
    checkInstanceSpec(
      { ...spec, memoryMb: 1024, diskMb: 512, cpus: 2.5, pidsLimit: 1000, idleTtlMs: 3_600_000 },
      limits,
    );
  });

  it('refuses each value past its bound, naming the bound and its setting', () => {
    refused(
      { memoryMb: 65_536 },
      /memory_mb 65536 is over this server's bound of 1024 \(FAAS_INSTANCE_MAX_MEMORY_MB\)/,
    );
    refused({ memoryMb: 2048, diskMb: 1024 }, /FAAS_INSTANCE_MAX_MEMORY_MB/);
    refused({ diskMb: 513, memoryMb: 1024 }, /disk_mb 513 .* \(FAAS_INSTANCE_MAX_DISK_MB\)/);
    refused({ cpus: 3 }, /cpus 3 .* 2\.5 \(FAAS_INSTANCE_MAX_CPUS\)/);
    refused({ pidsLimit: 65_536 }, /pids_limit 65536 .* \(FAAS_INSTANCE_MAX_PIDS\)/);
    refused({ idleTtlMs: 3_600_001 }, /idle_ttl_ms 3600001 .* \(FAAS_INSTANCE_MAX_IDLE_TTL_MS\)/);
    refused({ idleTtlMs: 0 }, /idle_ttl_ms 0 \(never idle\) is not allowed/);
  });

  it('refuses more disk than memory: the folders are tmpfs, charged to the memory limit', () => {
    refused({ memoryMb: 256, diskMb: 257 }, /disk_mb 257 is over memory_mb 256/);
  });

  it('allows never-idle instances only without an idle bound', () => {
    checkInstanceSpec({ ...spec, idleTtlMs: 0 }, { ...limits, maxIdleTtlMs: 0 });
  });

  it('holds the execute API’s sandboxes to the memory bound', () => {
    checkSandboxMemory(undefined, limits);
    checkSandboxMemory(1024, limits);
    assert.throws(() => checkSandboxMemory(4096, limits), /FAAS_INSTANCE_MAX_MEMORY_MB/);
  });

  it('holds a restored snapshot to today’s idle bound', () => {
    assert.equal(restoredSpec({ ...spec, idleTtlMs: 0 }, limits).idleTtlMs, 3_600_000);
    assert.equal(restoredSpec({ ...spec, idleTtlMs: 86_400_000 }, limits).idleTtlMs, 3_600_000);
    assert.equal(restoredSpec(spec, limits), spec);
    assert.equal(restoredSpec({ ...spec, idleTtlMs: 0 }, { ...limits, maxIdleTtlMs: 0 }).idleTtlMs, 0);
  });
});
