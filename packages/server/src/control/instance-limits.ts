import { type Config, ErrorCode, FaasError, type InstanceSpec, imageReferenceProblem } from '@faas/core';

/** The operator's bounds on what one instance may ask for (docs/configuration.md). */
export interface InstanceLimits {
  maxMemoryMb: number;
  maxDiskMb: number;
  maxCpus: number;
  maxPids: number;
  /** 0: no bound, and `idleTtlMs: 0` (never idle) allowed. */
  maxIdleTtlMs: number;
}

export function instanceLimitsFrom(config: Readonly<Config>): InstanceLimits {
  return {
    maxMemoryMb: config.instanceMaxMemoryMb,
    maxDiskMb: config.instanceMaxDiskMb,
    maxCpus: config.instanceMaxCpus,
    maxPids: config.instanceMaxPids,
    maxIdleTtlMs: config.instanceMaxIdleTtlMs,
  };
}

/** Bounds that fit any machine this runs on; the operator raises them. */
export const DEFAULT_INSTANCE_LIMITS: InstanceLimits = {
  maxMemoryMb: 4096,
  maxDiskMb: 4096,
  maxCpus: 4,
  maxPids: 4096,
  maxIdleTtlMs: 86_400_000,
};

function over(field: string, value: number, limit: number, setting: string): FaasError {
  return new FaasError(
    ErrorCode.VALIDATION,
    `${field} ${value} is over this server's bound of ${limit} (${setting})`,
    { details: [{ field, message: `at most ${limit}`, limit, setting }] },
  );
}

/**
 * Checks a spec against the bounds; the first bound passed is the error (422, naming the bound
 * and its setting). `disk_mb` must also fit in `memory_mb`: /workspace and /tmp are tmpfs, whose
 * pages are charged to the container's memory cgroup (runc and gVisor alike, see
 * docs/instances.md), so more disk than memory could never be filled.
 */
export function checkInstanceSpec(spec: InstanceSpec, limits: InstanceLimits): void {
  checkImageReference(spec.image);
  if (spec.memoryMb > limits.maxMemoryMb)
    throw over('memory_mb', spec.memoryMb, limits.maxMemoryMb, 'FAAS_INSTANCE_MAX_MEMORY_MB');
  if (spec.diskMb > limits.maxDiskMb)
    throw over('disk_mb', spec.diskMb, limits.maxDiskMb, 'FAAS_INSTANCE_MAX_DISK_MB');
  if (spec.cpus > limits.maxCpus) throw over('cpus', spec.cpus, limits.maxCpus, 'FAAS_INSTANCE_MAX_CPUS');
  if (spec.pidsLimit > limits.maxPids)
    throw over('pids_limit', spec.pidsLimit, limits.maxPids, 'FAAS_INSTANCE_MAX_PIDS');
  if (limits.maxIdleTtlMs > 0 && (spec.idleTtlMs === 0 || spec.idleTtlMs > limits.maxIdleTtlMs)) {
    throw new FaasError(
      ErrorCode.VALIDATION,
      spec.idleTtlMs === 0
        ? `idle_ttl_ms 0 (never idle) is not allowed here: at most ${limits.maxIdleTtlMs} (FAAS_INSTANCE_MAX_IDLE_TTL_MS)`
        : `idle_ttl_ms ${spec.idleTtlMs} is over this server's bound of ${limits.maxIdleTtlMs} (FAAS_INSTANCE_MAX_IDLE_TTL_MS)`,
      {
        details: [
          {
            field: 'idle_ttl_ms',
            message: `1 to ${limits.maxIdleTtlMs}`,
            limit: limits.maxIdleTtlMs,
            setting: 'FAAS_INSTANCE_MAX_IDLE_TTL_MS',
          },
        ],
      },
    );
  }
  if (spec.diskMb > spec.memoryMb) {
    throw new FaasError(
      ErrorCode.VALIDATION,
      `disk_mb ${spec.diskMb} is over memory_mb ${spec.memoryMb}: /workspace and /tmp are memory (tmpfs) and count against memory_mb`,
      {
        details: [
          { field: 'disk_mb', message: `at most memory_mb (${spec.memoryMb})`, limit: spec.memoryMb },
        ],
      },
    );
  }
}

/** An image the Engine could not be asked for: 422 naming `image`. */
export function checkImageReference(image: string | undefined): void {
  const problem = image === undefined ? undefined : imageReferenceProblem(image);
  if (problem)
    throw new FaasError(ErrorCode.VALIDATION, `image ${problem}`, {
      details: [{ field: 'image', message: problem }],
    });
}

/** The execute API's sandboxes share the memory bound (their other limits are fixed). */
export function checkSandboxMemory(memoryMb: number | undefined, limits: InstanceLimits): void {
  if (memoryMb !== undefined && memoryMb > limits.maxMemoryMb)
    throw over('memory_mb', memoryMb, limits.maxMemoryMb, 'FAAS_INSTANCE_MAX_MEMORY_MB');
}

/**
 * A snapshot's spec, held to today's idle bound for a restore: its idle TTL may predate the
 * bound (an execution's snapshot of an instance that was never idle). Its memory and disk are
 * what the checkpoint needs, and stay.
 */
export function restoredSpec(spec: InstanceSpec, limits: InstanceLimits): InstanceSpec {
  if (limits.maxIdleTtlMs === 0) return spec;
  if (spec.idleTtlMs > 0 && spec.idleTtlMs <= limits.maxIdleTtlMs) return spec;
  return { ...spec, idleTtlMs: limits.maxIdleTtlMs };
}
