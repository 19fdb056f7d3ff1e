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
  /** Each request's path picks one of `count` names: `{i}` in the URL is replaced by the pick. */
  spread?: LoadSpread;
}

export interface LoadSpread {
  count: number;
  /** uniform: every index alike; zipf: index i (from 0) weighs 1/(i+1), a few hot and a long cold tail. */
  distribution: 'uniform' | 'zipf';
}

/** Cumulative weights of a Zipf (s = 1) distribution over `count` items, ending at 1. */
export function zipfCdf(count: number): Float64Array {
  const cdf = new Float64Array(count);
  let sum = 0;
  for (let i = 0; i < count; i++) {
    sum += 1 / (i + 1);
    cdf[i] = sum;
  }
  for (let i = 0; i < count; i++) cdf[i] = (cdf[i] as number) / sum;
  return cdf;
}

/** A picker of indices for a spread: uniform, or by binary search in the Zipf weights. */
export function indexPicker(spread: LoadSpread): () => number {
  if (spread.distribution === 'uniform') return () => Math.floor(Math.random() * spread.count);
  const cdf = zipfCdf(spread.count);
  return () => {
    const r = Math.random();
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cdf[mid] as number) < r) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}
