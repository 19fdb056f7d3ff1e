import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';

/** One container's cgroup files for CPU time and peak memory, when this host exposes them. */
export class CgroupMetrics {
  #cpuFile: string | undefined;
  #cpuFormat: 'v1-ns' | 'v2-stat';
  #peakFile: string | undefined;

  private constructor(
    cpuFile: string | undefined,
    cpuFormat: 'v1-ns' | 'v2-stat',
    peakFile: string | undefined,
  ) {
    this.#cpuFile = cpuFile;
    this.#cpuFormat = cpuFormat;
    this.#peakFile = peakFile;
  }

  /** Finds the container's cgroup (v1 cgroupfs, v2 cgroupfs or v2 systemd layouts). */
  static forContainer(containerId: string, root = CGROUP_ROOT): CgroupMetrics {
    const v1Cpu = join(root, 'cpuacct', 'docker', containerId, 'cpuacct.usage');
    const v1Peak = join(root, 'memory', 'docker', containerId, 'memory.max_usage_in_bytes');
    if (existsSync(v1Cpu) || existsSync(v1Peak)) {
      return new CgroupMetrics(
        existsSync(v1Cpu) ? v1Cpu : undefined,
        'v1-ns',
        existsSync(v1Peak) ? v1Peak : undefined,
      );
    }
    for (const dir of [
      join(root, 'docker', containerId),
      join(root, 'system.slice', `docker-${containerId}.scope`),
    ]) {
      if (existsSync(join(dir, 'cpu.stat'))) {
        const peak = join(dir, 'memory.peak');
        return new CgroupMetrics(join(dir, 'cpu.stat'), 'v2-stat', existsSync(peak) ? peak : undefined);
      }
    }
    return new CgroupMetrics(undefined, 'v1-ns', undefined);
  }

  /** CPU time used by the container so far, in ms. */
  cpuTimeMs(): number | undefined {
    if (!this.#cpuFile) return undefined;
    try {
      const text = readFileSync(this.#cpuFile, 'utf8');
      if (this.#cpuFormat === 'v1-ns') return Number(text.trim()) / 1e6;
      const match = /usage_usec (\d+)/.exec(text);
      return match ? Number(match[1]) / 1000 : undefined;
    } catch {
      return undefined;
    }
  }

  /** Starts a new peak-memory window (v1 and kernels ≥ 6.12 allow resetting the peak). */
  resetPeak(): void {
    if (!this.#peakFile) return;
    try {
      writeFileSync(this.#peakFile, '0');
    } catch {
      // Not resettable here: the peak then covers the container's whole life.
    }
  }

  peakMemoryBytes(): number | undefined {
    if (!this.#peakFile) return undefined;
    try {
      const value = Number(readFileSync(this.#peakFile, 'utf8').trim());
      return Number.isFinite(value) ? value : undefined;
    } catch {
      return undefined;
    }
  }
}
