import { call, type Invocation, type Page, query } from '../api.ts';
import { Loading, ms, useApi } from '../components.tsx';

const WINDOW_MS = 60 * 60 * 1000;
const BUCKETS = 12;
/** Pages of invocations read at most: the charts are of the last hour's most recent 500. */
const MAX_PAGES = 5;
const FAILED = new Set(['failed', 'timed_out', 'dead_lettered']);

interface HourStats {
  calls: number[];
  errors: number[];
  p50?: number;
  p95?: number;
  p99?: number;
  counted: number;
  capped: boolean;
}

function percentile(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** The last hour of a function's invocations, read from the invocations API, in 5-minute buckets. */
async function lastHour(name: string, now: number): Promise<HourStats> {
  const since = new Date(now - WINDOW_MS).toISOString();
  const items: Invocation[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await call<Page<Invocation>>(
      `/api/v1/invocations${query({ functionName: name, since, limit: 100, cursor })}`,
    );
    items.push(...page.items);
    cursor = page.nextCursor;
    pages++;
  } while (cursor && pages < MAX_PAGES);
  const calls = new Array<number>(BUCKETS).fill(0);
  const errors = new Array<number>(BUCKETS).fill(0);
  const durations: number[] = [];
  for (const inv of items) {
    const age = now - Date.parse(inv.createdAt);
    const bucket = BUCKETS - 1 - Math.floor((age / WINDOW_MS) * BUCKETS);
    if (bucket < 0 || bucket >= BUCKETS) continue;
    calls[bucket] = (calls[bucket] ?? 0) + 1;
    if (FAILED.has(inv.status)) errors[bucket] = (errors[bucket] ?? 0) + 1;
    if (inv.durationMs !== undefined) durations.push(inv.durationMs);
  }
  durations.sort((a, b) => a - b);
  const stats: HourStats = { calls, errors, counted: items.length, capped: Boolean(cursor) };
  const [p50, p95, p99] = [50, 95, 99].map((p) => percentile(durations, p));
  if (p50 !== undefined) stats.p50 = p50;
  if (p95 !== undefined) stats.p95 = p95;
  if (p99 !== undefined) stats.p99 = p99;
  return stats;
}

function Bars({ calls, errors }: { calls: number[]; errors: number[] }) {
  const top = Math.max(1, ...calls);
  const width = 24;
  const height = 80;
  return (
    <svg
      class="bars"
      viewBox={`0 0 ${BUCKETS * width} ${height + 14}`}
      role="img"
      aria-label={`Invocations per 5 minutes over the last hour: ${calls.join(', ')}; errors: ${errors.join(', ')}`}
    >
      {calls.map((count, i) => {
        const h = (count / top) * height;
        const e = ((errors[i] ?? 0) / top) * height;
        const x = i * width + 3;
        return (
          <g key={i}>
            <rect class="calls" x={x} y={height - h} width={width - 6} height={h} />
            <rect class="errors" x={x} y={height - e} width={width - 6} height={e} />
          </g>
        );
      })}
      <text x="0" y={height + 12}>
        −60 min
      </text>
      <text x={BUCKETS * width} y={height + 12} text-anchor="end">
        now
      </text>
    </svg>
  );
}

/** Calls and errors over the last hour, and duration percentiles, for one function. */
export function FunctionCharts({ name, version }: { name: string; version: unknown }) {
  const { data, error } = useApi(() => lastHour(name, Date.now()), [name, version]);
  return (
    <div class="card charts">
      <h2>Last hour</h2>
      <Loading error={error}>
        {data && (
          <>
            <Bars calls={data.calls} errors={data.errors} />
            <p class="legend">
              <span class="key calls" /> calls <span class="key errors" /> errors ·{' '}
              <span data-testid="calls-total">{data.counted}</span> calls
              {data.capped ? ' (the latest 500)' : ''}
            </p>
            <dl>
              <dt>p50</dt>
              <dd>{ms(data.p50) || '–'}</dd>
              <dt>p95</dt>
              <dd>{ms(data.p95) || '–'}</dd>
              <dt>p99</dt>
              <dd>{ms(data.p99) || '–'}</dd>
            </dl>
          </>
        )}
      </Loading>
    </div>
  );
}
