/**
 * Quick measurement of what tracing costs an invoking request (not a test): with tracing off, the
 * request's only work is the header (none, or its parse, for the record's trace id); with it
 * on, each span. Run: node packages/server/src/observability/tracing.bench.ts
 */
import { parseTraceContext } from './trace-context.ts';
import { Tracing, traceFrom } from './tracing.ts';

const HEADER = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const withHeader: Record<string, string | undefined> = { traceparent: HEADER };
const without: Record<string, string | undefined> = {};

/** What InvokePipeline.startTrace does with tracing off. */
const off = (headers: Record<string, string | undefined>) =>
  headers.traceparent === undefined
    ? undefined
    : traceFrom(undefined, headers.traceparent, undefined, '', 'server');

function measure(name: string, runs: number, work: () => unknown): void {
  let kept: unknown;
  for (let i = 0; i < Math.min(runs, 100_000); i++) kept = work();
  const started = performance.now();
  for (let i = 0; i < runs; i++) kept = work();
  const ns = ((performance.now() - started) * 1e6) / runs;
  console.log(`${name.padEnd(44)} ${ns.toFixed(0).padStart(7)} ns${kept === 0 ? '' : ''}`);
}

measure('off: request without traceparent', 5_000_000, () => off(without));
measure('off: request with traceparent', 2_000_000, () => off(withHeader));
measure('parseTraceContext', 2_000_000, () => parseTraceContext(HEADER));
// Nothing listens on port 9: the batches fail to leave, which costs this loop nothing.
const on = new Tracing({ url: 'http://127.0.0.1:9/v1/traces', serviceName: 'bench' });
measure('on: a server span, started and ended', 200_000, () => {
  const trace = on.continue(HEADER, undefined, 'POST /api/v1/functions/:name/invoke', 'server', { a: 1 });
  trace.span?.end();
  return trace;
});
await on.shutdown().catch(() => {});
