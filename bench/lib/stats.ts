/** Nearest-rank percentile of unsorted samples; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] as number;
}

export const ms = (value: number): string => (Number.isFinite(value) ? `${value.toFixed(2)} ms` : 'n/a');
export const rps = (value: number): string => (Number.isFinite(value) ? `${value.toFixed(0)} req/s` : 'n/a');

export const sleep = (millis: number) => new Promise<void>((done) => setTimeout(done, millis));
