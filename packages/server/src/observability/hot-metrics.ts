import type { MetricValue, Registry } from 'prom-client';

/**
 * Counters and histograms for the invoke path. prom-client hashes the label object on every
 * `inc`/`observe`, its label children included (about 2 µs a call here, twice per invoke); these
 * find a series by a key the caller builds (one Map lookup) and count in plain numbers. They are
 * read in prom-client's format at scrape time (registered like any metric, merged by the
 * AggregatorRegistry like any metric).
 */
type Labels = Record<string, string>;

interface Readable {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  get(): { name: string; help: string; type: string; aggregator: 'sum'; values: MetricValue<string>[] };
  reset(): void;
}

export class HotCounter implements Readable {
  readonly name: string;
  readonly help: string;
  readonly type = 'counter' as const;
  readonly aggregator = 'sum' as const;
  #series = new Map<string, { labels: Labels; value: number }>();

  constructor(options: { name: string; help: string; registers: Registry[] }) {
    this.name = options.name;
    this.help = options.help;
    for (const r of options.registers) r.registerMetric(this as never);
  }

  /** `key` names the label set (`labels` is called only the first time it is seen). */
  inc(key: string, labels: () => Labels, by = 1): void {
    this.series(key, labels).value += by;
  }

  /** The series of a label set, for a caller that keeps it (`series.value++` is the cheapest count). */
  series(key: string, labels: () => Labels): { value: number } {
    let series = this.#series.get(key);
    if (!series) {
      series = { labels: labels(), value: 0 };
      this.#series.set(key, series);
    }
    return series;
  }

  /** Drops the series whose labels `match` (their function was deleted): they leave the scrape. */
  deleteWhere(match: (labels: Labels) => boolean): void {
    for (const [key, series] of this.#series) if (match(series.labels)) this.#series.delete(key);
  }

  get() {
    const values = [...this.#series.values()].map(({ labels, value }) => ({ labels, value }));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.#series.clear();
  }
}

export interface HistogramSeries {
  labels: Labels;
  /** Per bucket, not cumulative (summed up at scrape time). */
  counts: Float64Array;
  sum: number;
  count: number;
}

export class HotHistogram implements Readable {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  #bounds: number[];
  #series = new Map<string, HistogramSeries>();

  constructor(options: { name: string; help: string; buckets: number[]; registers: Registry[] }) {
    this.name = options.name;
    this.help = options.help;
    this.#bounds = [...options.buckets].sort((a, b) => a - b);
    for (const r of options.registers) r.registerMetric(this as never);
  }

  observe(key: string, labels: () => Labels, value: number): void {
    this.observeSeries(this.series(key, labels), value);
  }

  /** The series of a label set, for a caller that keeps it (then `observeSeries`). */
  series(key: string, labels: () => Labels): HistogramSeries {
    let series = this.#series.get(key);
    if (!series) {
      series = { labels: labels(), counts: new Float64Array(this.#bounds.length + 1), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    return series;
  }

  observeSeries(series: HistogramSeries, value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    (series.counts as Float64Array)[i] = ((series.counts as Float64Array)[i] as number) + 1;
    series.sum += value;
    series.count++;
  }

  /** Drops the series whose labels `match` (their function was deleted): they leave the scrape. */
  deleteWhere(match: (labels: Labels) => boolean): void {
    for (const [key, series] of this.#series) if (match(series.labels)) this.#series.delete(key);
  }

  get() {
    const values: MetricValue<string>[] = [];
    for (const { labels, counts, sum, count } of this.#series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.#bounds.length; i++) {
        cumulative += counts[i] as number;
        const le = i < this.#bounds.length ? (this.#bounds[i] as number) : '+Inf';
        values.push({
          labels: { le, ...labels },
          value: cumulative,
          metricName: `${this.name}_bucket`,
        } as never);
      }
      values.push({ labels, value: sum, metricName: `${this.name}_sum` } as never);
      values.push({ labels, value: count, metricName: `${this.name}_count` } as never);
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.#series.clear();
  }
}

type Part = string | number;

/**
 * Series looked up by up to five label values in nested Maps: no key string is built per call,
 * and Maps of strings V8 has hashed already answer in a few ns each. The parts a caller passes
 * must come from bounded sets (names, never ids).
 */
export class SeriesCache<T> {
  #root = new Map<Part, unknown>();
  #make: (a: Part, b: Part, c: Part, d: Part, e: Part) => T;

  constructor(make: (a: Part, b: Part, c: Part, d: Part, e: Part) => T) {
    this.#make = make;
  }

  get(a: Part, b: Part, c: Part, d: Part = '', e: Part = ''): T {
    const m1 = this.#level(this.#root, a);
    const m2 = this.#level(m1, b);
    const m3 = this.#level(m2, c);
    const m4 = this.#level(m3, d);
    let found = m4.get(e) as T | undefined;
    if (found === undefined) {
      found = this.#make(a, b, c, d, e);
      m4.set(e, found);
    }
    return found;
  }

  /**
   * Forgets every series found under the first part `a`: the next `get` makes them anew (a
   * caller that drops them from its metrics must drop them here, or counts go to series no
   * scrape reads).
   */
  delete(a: Part): void {
    this.#root.delete(a);
  }

  #level(map: Map<Part, unknown>, key: Part): Map<Part, unknown> {
    let next = map.get(key) as Map<Part, unknown> | undefined;
    if (!next) {
      next = new Map();
      map.set(key, next);
    }
    return next;
  }
}
