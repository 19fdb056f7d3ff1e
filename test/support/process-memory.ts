import { readFileSync, writeFileSync } from 'node:fs';

/** A process's resident memory now and at its peak since the last reset, in bytes (Linux /proc). */
export function memoryOf(pid: number): { rssBytes: number; peakBytes: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rssBytes: kib('VmRSS'), peakBytes: kib('VmHWM') };
}

/** Starts a new peak measurement: the peak (VmHWM) is set back to the current RSS. */
export function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/**
 * How far `pid`'s resident memory rose above where it was while `work` ran (the kernel's
 * high-water mark: no sampling gaps).
 */
export async function peakGrowth<T>(
  pid: number,
  work: () => Promise<T>,
): Promise<{ result: T; growthBytes: number; beforeBytes: number; peakBytes: number }> {
  resetPeak(pid);
  const before = memoryOf(pid).rssBytes;
  const result = await work();
  const peak = memoryOf(pid).peakBytes;
  return { result, growthBytes: peak - before, beforeBytes: before, peakBytes: peak };
}
