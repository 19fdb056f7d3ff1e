import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';
/** cpu.stat (v2) is a few hundred bytes; the other files one number. */
const READ_BYTES = 4096;

/**
 * One container's cgroup files for CPU time and peak memory, when this host exposes them. Each
 * file stays open for the container's life and is read at offset 0, which makes the kernel write
 * it out afresh: one pread a reading instead of open, read and close, three times an invocation
 * on the worker's serving thread. Kept open, cgroup v2's `memory.peak` also keeps the reset
 * written through it (kernels ≥ 6.12 reset the peak per open file).
 */
export class CgroupMetrics {
  #cpu: number | undefined;
  #cpuFormat: 'v1-ns' | 'v2-stat';
  #peak: number | undefined;
  #peakWritable: boolean;
  #buffer = Buffer.allocUnsafe(READ_BYTES);

  private constructor(
    cpu: number | undefined,
    cpuFormat: 'v1-ns' | 'v2-stat',
    peak: { fd: number; writable: boolean } | undefined,
  ) {
    this.#cpu = cpu;
    this.#cpuFormat = cpuFormat;
    this.#peak = peak?.fd;
    this.#peakWritable = peak?.writable ?? false;
  }

  /** Opens the container's cgroup files (v1 cgroupfs, v2 cgroupfs or v2 systemd layouts). */
  static forContainer(containerId: string, root = CGROUP_ROOT): CgroupMetrics {
    const v1Cpu = openIfThere(join(root, 'cpuacct', 'docker', containerId, 'cpuacct.usage'));
    const v1Peak = openPeak(join(root, 'memory', 'docker', containerId, 'memory.max_usage_in_bytes'));
    if (v1Cpu !== undefined || v1Peak !== undefined) return new CgroupMetrics(v1Cpu, 'v1-ns', v1Peak);
    for (const dir of [
      join(root, 'docker', containerId),
      join(root, 'system.slice', `docker-${containerId}.scope`),
    ]) {
      const cpu = openIfThere(join(dir, 'cpu.stat'));
      if (cpu !== undefined) return new CgroupMetrics(cpu, 'v2-stat', openPeak(join(dir, 'memory.peak')));
    }
    return new CgroupMetrics(undefined, 'v1-ns', undefined);
  }

  /** CPU time used by the container so far, in ms. */
  cpuTimeMs(): number | undefined {
    const text = this.#read(this.#cpu);
    if (text === undefined) return undefined;
    if (this.#cpuFormat === 'v1-ns') return Number(text.trim()) / 1e6;
    const match = /usage_usec (\d+)/.exec(text);
    return match ? Number(match[1]) / 1000 : undefined;
  }

  /** Starts a new peak-memory window (v1 and kernels ≥ 6.12 allow resetting the peak). */
  resetPeak(): void {
    if (this.#peak === undefined || !this.#peakWritable) return;
    try {
      writeSync(this.#peak, '0', 0);
    } catch {
      // Not resettable here: the peak then covers the container's whole life.
      this.#peakWritable = false;
    }
  }

  peakMemoryBytes(): number | undefined {
    const text = this.#read(this.#peak);
    if (text === undefined) return undefined;
    const value = Number(text.trim());
    return Number.isFinite(value) ? value : undefined;
  }

  /** Closes the files; readings after it are undefined. Idempotent. */
  close(): void {
    for (const fd of [this.#cpu, this.#peak]) {
      if (fd === undefined) continue;
      try {
        closeSync(fd);
      } catch {
        // Closed already: nothing holds it.
      }
    }
    this.#cpu = undefined;
    this.#peak = undefined;
  }

  /** The file's whole text, or undefined when there is none or it cannot be read (its cgroup went). */
  #read(fd: number | undefined): string | undefined {
    if (fd === undefined) return undefined;
    try {
      const n = readSync(fd, this.#buffer, 0, READ_BYTES, 0);
      return this.#buffer.toString('latin1', 0, n);
    } catch {
      return undefined;
    }
  }
}

function openIfThere(path: string, flags = 'r'): number | undefined {
  try {
    return openSync(path, flags);
  } catch {
    return undefined;
  }
}

/** The peak file, writable when this process may reset it. */
function openPeak(path: string): { fd: number; writable: boolean } | undefined {
  const writable = openIfThere(path, 'r+');
  if (writable !== undefined) return { fd: writable, writable: true };
  const fd = openIfThere(path);
  return fd === undefined ? undefined : { fd, writable: false };
}
