import type { InvocationBucketStats } from '@faas/core';
import { DEFAULT_PROJECT, ErrorCode, FaasError, storedName } from '@faas/core';
import type { FastifyInstance } from 'fastify';
import type { Platform } from '../../platform.ts';
import { nameParams } from '../schemas.ts';

/** The windows of `GET /api/v1/functions/{name}/stats`: so many buckets of so many ms. */
const SERIES_WINDOWS: ReadonlyMap<string, { bucketMs: number; buckets: number }> = new Map([
  ['hour', { bucketMs: 60_000, buckets: 60 }],
  ['day', { bucketMs: 3_600_000, buckets: 24 }],
]);

/** One bucket as the API answers it: every bucket of the window, empty ones with zeros. */
export interface StatsBucketView extends Omit<InvocationBucketStats, 'index'> {
  /** ISO 8601; the bucket holds invocations created from here for `bucketMs`. */
  start: string;
}

/**
 * `GET /api/v1/functions/{name}/stats?window=hour|day`: one function's calls, errors and p50/p99
 * durations over time, in 60 one-minute or 24 one-hour buckets (the current, partial one last;
 * bucket edges on whole minutes or hours in UTC), from the store in one query.
 */
export function functionStatsRoutes(app: FastifyInstance, platform: Platform): void {
  app.get<{ Params: { name: string }; Querystring: { window?: unknown } }>(
    '/functions/:name/stats',
    {
      schema: {
        tags: ['invocations'],
        summary:
          "A function's calls, errors and p50/p99 duration over time: window=hour (60 one-minute buckets, the default) or day (24 one-hour buckets)",
        params: nameParams,
        // No type on `window`: every wrong one (a repeat, an array, a long string) is the same
        // 400 from the handler, not a 400 for some and a schema's 422 for others.
        querystring: {
          type: 'object',
          properties: { window: { description: '`hour` (default) or `day`; anything else is 400' } },
        },
      },
    },
    async (request) => {
      const asked = request.query.window ?? 'hour';
      const window = typeof asked === 'string' ? asked : undefined;
      const shape = window === undefined ? undefined : SERIES_WINDOWS.get(window);
      if (window === undefined || !shape) {
        const shown = (window ?? String(JSON.stringify(asked))).slice(0, 32);
        throw new FaasError(ErrorCode.BAD_REQUEST, `Unknown stats window "${shown}": use hour or day`, {
          details: { window: shown, windows: [...SERIES_WINDOWS.keys()] },
        });
      }
      // 404 for a function that does not exist, or is another project's.
      const fn = await platform.functions.get(request.params.name, {
        scope: request.projectScope,
        project: request.project,
      });
      // Sync records are written in batches: the numbers include everything finished so far.
      await platform.recorder.flush();
      const { bucketMs, buckets } = shape;
      const now = Date.now();
      const sinceMs = Math.floor(now / bucketMs) * bucketMs - (buckets - 1) * bucketMs;
      const found = await platform.store.invocationTimeSeries({
        functionName: storedName(fn.latest.project, fn.name),
        // Only the function's own project: a name deleted in one project and reused in another
        // does not bring the old one's invocations along.
        project: fn.latest.project ?? DEFAULT_PROJECT,
        sinceMs,
        bucketMs,
        buckets,
      });
      const byIndex = new Map(found.map(({ index, ...numbers }) => [index, numbers]));
      const series: StatsBucketView[] = Array.from({ length: buckets }, (_, i) => ({
        start: new Date(sinceMs + i * bucketMs).toISOString(),
        ...(byIndex.get(i) ?? { calls: 0, errors: 0 }),
      }));
      return {
        functionName: fn.name,
        window,
        bucketMs,
        generatedAt: new Date(now).toISOString(),
        buckets: series,
      };
    },
  );
}
