import { useState } from 'preact/hooks';
import { call, query } from '../api.ts';
import { barShapes, lineShape, niceMax, type Plot } from '../chart-scale.ts';
import { Loading, ms, useApi } from '../components.tsx';

type StatsWindow = 'hour' | 'day';

interface StatsBucket {
  start: string;
  calls: number;
  errors: number;
  p50Ms?: number;
  p99Ms?: number;
}

/** `GET /api/v1/functions/{name}/stats` (docs/api.md). */
interface StatsSeries {
  window: StatsWindow;
  bucketMs: number;
  buckets: StatsBucket[];
}

const WINDOWS: Record<StatsWindow, { title: string; unit: string; per: string; from: string }> = {
  hour: { title: 'Last hour', unit: 'minute', per: 'per minute', from: '−60 min' },
  day: { title: 'Last day', unit: 'hour', per: 'per hour', from: '−24 h' },
};

/** The plot's size in SVG units (it scales to the card's width); room below for the labels. */
const PLOT: Plot = { width: 480, height: 80 };
const LABELS = 14;

function Edges({ window }: { window: StatsWindow }) {
  return (
    <>
      <text x="0" y={PLOT.height + 12}>
        {WINDOWS[window].from}
      </text>
      <text x={PLOT.width} y={PLOT.height + 12} text-anchor="end">
        now
      </text>
    </>
  );
}

/** Calls per bucket, errors drawn over them. */
function CallBars({ series, calls, errors }: { series: StatsSeries; calls: number; errors: number }) {
  const top = niceMax(series.buckets.map((b) => b.calls));
  const bars = barShapes(series.buckets, PLOT, top);
  return (
    <svg
      class="chart"
      viewBox={`0 0 ${PLOT.width} ${PLOT.height + LABELS}`}
      role="img"
      aria-label={`Invocations ${WINDOWS[series.window].per}: ${calls} calls, ${errors} errors in all; the scale's top is ${top}`}
    >
      <line class="axis" x1="0" x2={PLOT.width} y1={PLOT.height} y2={PLOT.height} />
      {bars.map((bar, i) => (
        <g key={i}>
          <rect class="calls" x={bar.x} y={bar.callsY} width={bar.width} height={bar.callsHeight} />
          <rect class="errors" x={bar.x} y={bar.errorsY} width={bar.width} height={bar.errorsHeight} />
        </g>
      ))}
      <text x="2" y="10">
        {top}
      </text>
      <Edges window={series.window} />
    </svg>
  );
}

/** p50 and p99 duration per bucket, as two lines on one scale. */
function DurationLines({ series }: { series: StatsSeries }) {
  const p50 = series.buckets.map((b) => b.p50Ms);
  const p99 = series.buckets.map((b) => b.p99Ms);
  const top = niceMax([...p50, ...p99]);
  return (
    <svg
      class="chart"
      viewBox={`0 0 ${PLOT.width} ${PLOT.height + LABELS}`}
      role="img"
      aria-label={`Duration ${WINDOWS[series.window].per}, p50 and p99; the scale's top is ${ms(top)}`}
    >
      <line class="axis" x1="0" x2={PLOT.width} y1={PLOT.height} y2={PLOT.height} />
      {(
        [
          ['p99', p99],
          ['p50', p50],
        ] as const
      ).map(([name, values]) => {
        const { path, points } = lineShape(values, PLOT, top);
        return (
          <g key={name} class={name}>
            <path d={path} />
            {points.map((p) => (
              <circle key={p.x} cx={p.x} cy={p.y} r="2.5" />
            ))}
          </g>
        );
      })}
      <text x="2" y="10">
        {ms(top)}
      </text>
      <Edges window={series.window} />
    </svg>
  );
}

/** Percentiles of buckets do not add up to the window's: the slowest bucket's is shown. */
function worst(values: Array<number | undefined>): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length ? Math.max(...known) : undefined;
}

/**
 * A function's invocations and errors over time and its p50/p99 durations, from the stats the
 * API serves (`GET /api/v1/functions/{name}/stats`): the last hour by minute or the last day by hour.
 */
export function FunctionCharts({ name, version }: { name: string; version: unknown }) {
  const [window, setWindow] = useState<StatsWindow>('hour');
  const { data, error } = useApi(
    () => call<StatsSeries>(`/api/v1/functions/${encodeURIComponent(name)}/stats${query({ window })}`),
    [name, version, window],
  );
  const calls = data?.buckets.reduce((n, b) => n + b.calls, 0) ?? 0;
  const errors = data?.buckets.reduce((n, b) => n + b.errors, 0) ?? 0;
  return (
    <div class="card charts">
      <div class="bar">
        <h2>{WINDOWS[window].title}</h2>
        <fieldset class="toggle">
          <legend class="sr-only">Window</legend>
          {(['hour', 'day'] as const).map((w) => (
            <button key={w} type="button" aria-pressed={window === w} onClick={() => setWindow(w)}>
              {w === 'hour' ? 'Hour' : 'Day'}
            </button>
          ))}
        </fieldset>
      </div>
      <Loading error={error}>
        {data && (
          <>
            <CallBars series={data} calls={calls} errors={errors} />
            <p class="legend">
              <span class="key calls" /> calls <span class="key errors" /> errors {WINDOWS[data.window].per} ·{' '}
              <span data-testid="calls-total">{calls}</span> calls,{' '}
              <span data-testid="errors-total">{errors}</span> errors
            </p>
            <DurationLines series={data} />
            <p class="legend">
              <span class="key p50" /> p50 <span class="key p99" /> p99 duration · slowest{' '}
              {WINDOWS[data.window].unit}: {ms(worst(data.buckets.map((b) => b.p50Ms))) || '–'} /{' '}
              {ms(worst(data.buckets.map((b) => b.p99Ms))) || '–'}
            </p>
          </>
        )}
      </Loading>
    </div>
  );
}
