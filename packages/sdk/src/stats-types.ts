/** One function's numbers in a window of `GET /api/v1/stats`. */
export interface WindowStats {
  calls: number;
  errors: number;
  /** Invocations that waited for a new isolate, container or process. */
  coldStarts: number;
  p50Ms?: number;
  p99Ms?: number;
}

/** One function in `GET /api/v1/stats`; a window is absent when it had no invocation. */
export interface FunctionStats {
  functionName: string;
  minute?: WindowStats;
  hour?: WindowStats;
  day?: WindowStats;
}

/** `hour`: 60 one-minute buckets; `day`: 24 one-hour buckets. */
export type StatsWindow = 'hour' | 'day';

/** One bucket of `GET /api/v1/functions/{name}/stats`; percentiles absent without a duration. */
export interface StatsBucket extends WindowStats {
  /** ISO 8601: the bucket holds invocations created from here for `bucketMs`. */
  start: string;
}

/** `GET /api/v1/functions/{name}/stats`: every bucket of the window, oldest first. */
export interface FunctionStatsSeries {
  functionName: string;
  window: StatsWindow;
  bucketMs: number;
  generatedAt: string;
  buckets: StatsBucket[];
}
