// What the sections that put two servers side by side (store-compare, tracing-compare,
// before-after) share: the warm invoke they load, one line per measurement, and measurements
// combined.
import type { LoadResult, LoadTarget } from './load-result.ts';
import type { FaasServer } from './processes.ts';
import { ms, rps } from './stats.ts';

export const describeLoad = (r: LoadResult): string =>
  `${rps(r.requestsPerSec)}  p50 ${ms(r.p50Ms)}  p99 ${ms(r.p99Ms)}${r.errors ? `  ERRORS ${r.errors}` : ''}`;

/** A sync invoke of function `name` with the admin key. */
export function invokeTarget(server: FaasServer, name: string, event: string): LoadTarget {
  return {
    url: `${server.url}/api/v1/functions/${name}/invoke`,
    body: event,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${server.adminKey}` },
  };
}

/** Several measurements as one: their mean throughput, their worst percentiles. */
export function combineResults(results: LoadResult[]): LoadResult {
  const first = results[0] as LoadResult;
  return {
    ...first,
    requestsPerSec: results.reduce((s, r) => s + r.requestsPerSec, 0) / results.length,
    p50Ms: Math.max(...results.map((r) => r.p50Ms)),
    p99Ms: Math.max(...results.map((r) => r.p99Ms)),
    requests: results.reduce((s, r) => s + r.requests, 0),
    errors: results.reduce((s, r) => s + r.errors, 0),
  };
}
