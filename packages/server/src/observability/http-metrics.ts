import { Registry } from 'prom-client';
import { type HistogramSeries, HotCounter, HotHistogram, SeriesCache } from './hot-metrics.ts';

/** Seconds: a warm invoke answers in well under a millisecond; instance streams last minutes. */
const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * HTTP requests of one gateway thread, by route pattern (never the raw path: a label set bounded
 * by the routes the gateway has) and status. Each thread has its own registry; the main thread
 * merges them at scrape time.
 */
export class HttpMetrics {
  readonly registry = new Registry();
  #requests: HotCounter;
  #duration: HotHistogram;
  #series: SeriesCache<{ count: { value: number }; time: HistogramSeries }>;

  constructor() {
    const registers = [this.registry];
    this.#requests = new HotCounter({
      name: 'faas_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status',
      registers,
    });
    this.#duration = new HotHistogram({
      name: 'faas_http_request_duration_seconds',
      help: 'Time from a request to its answer, by method, route pattern and status',
      buckets: HTTP_BUCKETS,
      registers,
    });
    this.#series = new SeriesCache((route, status, method) => {
      const labels = () => ({ method: String(method), route: String(route), status: String(status) });
      const key = `${method} ${status} ${route}`;
      return { count: this.#requests.series(key, labels), time: this.#duration.series(key, labels) };
    });
  }

  /** `route` is a pattern (`/api/v1/functions/:name`); any method a client sends is bounded here. */
  observe(method: string, route: string, status: number, seconds: number): void {
    // Any token a client sends as a method counts as OTHER: the series stay bounded.
    const series = this.#series.get(route, status, METHODS.has(method) ? method : 'OTHER');
    series.count.value++;
    this.#duration.observeSeries(series.time, seconds);
  }
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
