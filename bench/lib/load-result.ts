/** What one load-generator run measured against one target. */
export interface LoadResult {
  generator: 'wrk' | 'node';
  connections: number;
  durationS: number;
  requests: number;
  /** Responses other than 2xx; a run with errors is reported, never silently counted as good. */
  errors: number;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

/** One HTTP request the generators repeat: POST with a JSON body and headers. */
export interface LoadTarget {
  url: string;
  body: string;
  headers: Record<string, string>;
}
