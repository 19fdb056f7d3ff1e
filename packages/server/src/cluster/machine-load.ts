import { readFileSync } from 'node:fs';
import { cpus, freemem, totalmem } from 'node:os';
import type { LoadSample } from './load-score.ts';

/**
 * Reads the machine's load for the score: CPU busy share since the last read (from the kernel's
 * per-CPU times), memory in use (MemAvailable, which libuv reads), and I/O pressure (`some avg10`
 * of /proc/pressure/io; 0 where the kernel has no PSI).
 */
export class MachineLoad {
  #last = cpuTimes();

  sample(): LoadSample {
    const now = cpuTimes();
    const total = now.total - this.#last.total;
    const idle = now.idle - this.#last.idle;
    this.#last = now;
    return {
      cpu: total > 0 ? ((total - idle) / total) * 100 : 0,
      memory: (1 - freemem() / totalmem()) * 100,
      io: ioPressure(),
    };
  }
}

function cpuTimes(): { total: number; idle: number } {
  let total = 0;
  let idle = 0;
  for (const cpu of cpus()) {
    const t = cpu.times;
    total += t.user + t.nice + t.sys + t.idle + t.irq;
    idle += t.idle;
  }
  return { total, idle };
}

function ioPressure(): number {
  try {
    const match = /^some avg10=([\d.]+)/m.exec(readFileSync('/proc/pressure/io', 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}
