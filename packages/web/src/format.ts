/** A duration as people read it: 1.26 ms, 85 ms, 2.4 s. */
export function ms(value?: number): string {
  if (value === undefined) return '';
  if (value >= 1000) return `${(value / 1000).toFixed(1)} s`;
  return value >= 10 ? `${Math.round(value)} ms` : `${value.toFixed(2)} ms`;
}
