import { Counter, Histogram, Registry } from 'prom-client';

/** Seconds: a warm invoke answers in well under a millisecond; instance streams last minutes. */
const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type Child = { counter: Counter.Internal; histogram: Histogram.Internal<string> };

/**
 * HTTP requests of one gateway thread, by route pattern (never the raw path: a label set bounded
 * by the routes the gateway has) and status. Each thread has its own registry; the main thread
 * merges them at scrape time.
 */
export class HttpMetrics {
  readonly registry = new Registry();
  #requests: Counter<'method' | 'route' | 'status'>;
  #duration: Histogram<'method' | 'route' | 'status'>;
  /** prom-client hashes the labels on every call; on the invoke path the children are kept. */
  #children = new Map<string, Child>();

  constructor() {
    const registers = [this.registry];
    this.#requests = new Counter({
      name: 'faas_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'faas_http_request_duration_seconds',
      help: 'Time from a request to its answer, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: HTTP_BUCKETS,
      registers,
    });
  }

  /** `route` is a pattern (`/api/v1/functions/:name`), `method` one of a known few. */
  observe(method: string, route: string, status: number, seconds: number): void {
    const m = boundedMethod(method);
    const key = `${m} ${status} ${route}`;
    let child = this.#children.get(key);
    if (!child) {
      const labels = { method: m, route, status: String(status) };
      child = { counter: this.#requests.labels(labels), histogram: this.#duration.labels(labels) };
      this.#children.set(key, child);
    }
    child.counter.inc();
    child.histogram.observe(seconds);
  }
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** A client can send any token as a method: the label keeps a known few. */
function boundedMethod(method: string): string {
  return METHODS.has(method) ? method : 'OTHER';
}
