import { timingSafeEqual } from 'node:crypto';
import {
  AggregatorRegistry,
  type MetricObjectWithValues,
  type MetricValue,
  prometheusContentType,
  type Registry,
} from 'prom-client';

export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** Where a scrape's metrics come from: this thread's registries, other threads' (over their ports). */
export type MetricsSource = () => Promise<MetricsJson[]>;

/**
 * `GET /metrics`' answer: this thread's registries and each other source's, merged: counters and
 * histograms of the same name and labels are summed, so a request counted on any gateway thread
 * is counted once in the node's answer.
 */
export class MetricsScrape {
  #registries: Registry[];
  #sources = new Set<MetricsSource>();
  #beforeScrape: () => void;

  /** `beforeScrape` brings counts up to date (invocation records other threads posted). */
  constructor(registries: Registry[], beforeScrape: () => void = () => {}) {
    this.#registries = registries;
    this.#beforeScrape = beforeScrape;
  }

  /** Adds a source (the gateway threads); the returned function removes it. */
  add(source: MetricsSource): () => void {
    this.#sources.add(source);
    return () => this.#sources.delete(source);
  }

  async text(): Promise<string> {
    this.#beforeScrape();
    const own = await Promise.all(this.#registries.map((r) => r.getMetricsAsJSON()));
    const others = await Promise.all([...this.#sources].map((s) => s()));
    return AggregatorRegistry.aggregate([...own, ...others.flat()] as MetricsJson[]).metrics();
  }
}

export const METRICS_CONTENT_TYPE = prometheusContentType;

/** Compares a scrape's bearer token with FAAS_METRICS_TOKEN in constant time. */
export function metricsTokenMatches(header: string | undefined, token: string): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice('Bearer '.length));
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
