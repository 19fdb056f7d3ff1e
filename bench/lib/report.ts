import { mkdirSync, writeFileSync } from 'node:fs';

/** One row of the summary: a figure, what it is compared to, and whether it meets its target. */
export interface Metric {
  section: string;
  metric: string;
  unit: 'ms' | 'req/s' | 'ratio' | 'MB' | 's' | 'count';
  faas: number;
  baseline?: number;
  /** faas/baseline, or faas − baseline for "added" latency; see `target`. */
  ratio?: number;
  target?: { op: '<=' | '>='; value: number; of: 'faas' | 'ratio' };
  note?: string;
}

export function verdict(m: Metric): 'PASS' | 'MISS' | '' {
  if (!m.target) return '';
  const value = m.target.of === 'ratio' ? m.ratio : m.faas;
  if (value === undefined || !Number.isFinite(value)) return 'MISS';
  return (m.target.op === '<=' ? value <= m.target.value : value >= m.target.value) ? 'PASS' : 'MISS';
}

const num = (value: number | undefined, unit: string) =>
  value === undefined || !Number.isFinite(value)
    ? ''
    : unit === 'req/s'
      ? value.toFixed(0)
      : value.toFixed(2);

function targetText(m: Metric): string {
  const ratio = m.ratio === undefined ? '' : `${num(m.ratio, 'ratio')}`;
  if (!m.target) return ratio;
  const unit = m.target.of === 'ratio' ? '' : ` ${m.unit}`;
  return `${ratio}${ratio ? ' ' : ''}(${m.target.op} ${m.target.value}${unit})`;
}

export function summaryTable(metrics: Metric[]): string {
  const rows = [['metric', 'faas', 'baseline', 'ratio/target', 'result']];
  for (const m of metrics) {
    rows.push([
      `${m.metric} (${m.unit})`,
      num(m.faas, m.unit),
      num(m.baseline, m.unit),
      targetText(m),
      verdict(m),
    ]);
  }
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((row) => (row[col] ?? '').length))) ?? [];
  const line = (row: string[]) =>
    row
      .map((cell, col) => cell.padEnd(widths[col] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(rows[0] ?? []), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join(
    '\n',
  );
}

export function writeJson(path: string, data: unknown): void {
  mkdirSync(new URL('.', `file://${path}`).pathname, { recursive: true });
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
}
