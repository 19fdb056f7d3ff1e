import {
  type ActiveTrace,
  type Config,
  type SpanAttributes,
  TraceAttr,
  type Tracer,
  type TraceSpan,
  type TraceSpanKind,
} from '@faas/core';
import {
  type Context,
  createTraceState,
  type Tracer as OtelTracer,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { formatTraceparent, parseTraceContext, type TraceContext } from './trace-context.ts';

/** How long finished spans wait to leave in one batch; shutdown sends what is left. */
const EXPORT_DELAY_MS = 1000;
/**
 * How long one export may take, retries included (the exporter retries a refused connection
 * with backoff): a collector that is down must not hold a stopping server for long.
 */
const EXPORT_TIMEOUT_MS = 3000;
/** The longest shutdown waits for the last spans to leave. */
const SHUTDOWN_LIMIT_MS = 5000;

const KINDS: Record<TraceSpanKind, SpanKind> = {
  internal: SpanKind.INTERNAL,
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
};

/** An OpenTelemetry span behind core's TraceSpan. */
class OtelSpan implements TraceSpan {
  readonly span: Span;

  constructor(span: Span) {
    this.span = span;
  }

  setAttributes(attributes: SpanAttributes): void {
    this.span.setAttributes(attributes);
  }

  end(error?: unknown): void {
    if (error !== undefined) {
      this.span.setStatus({
        code: SpanStatusCode.ERROR,
        message: error instanceof Error ? error.message : String(error),
      });
      this.span.setAttribute(TraceAttr.errorType, errorType(error));
    }
    this.span.end();
  }
}

/**
 * One thread's spans and their exporter (OpenTelemetry's SDK, OTLP/HTTP, batched). Present only
 * when an OTLP endpoint is configured. Spans are parented explicitly: each call names its
 * parent, a span of this process or a remote caller's context.
 */
export class Tracing implements Tracer {
  #provider: TracerProvider;
  #tracer: OtelTracer;

  constructor(options: { url: string; serviceName: string; sampler?: Sampler }) {
    this.#provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': options.serviceName }),
      ...(options.sampler ? { sampler: options.sampler } : {}),
      spanProcessors: [
        new BatchSpanProcessor({
          exporter: new OTLPTraceExporter({ url: options.url, timeoutMillis: EXPORT_TIMEOUT_MS }),
          exportTimeoutMillis: EXPORT_TIMEOUT_MS,
          scheduledDelayMillis: EXPORT_DELAY_MS,
        }),
      ],
    });
    this.#tracer = this.#provider.getTracer('faas');
  }

  child(
    parent: ActiveTrace,
    name: string,
    kind: TraceSpanKind = 'internal',
    attributes?: SpanAttributes,
    startTime?: number,
  ): ActiveTrace {
    const context =
      parent.span instanceof OtelSpan
        ? trace.setSpan(ROOT_CONTEXT, parent.span.span)
        : remoteContext(parseTraceContext(parent.traceparent, parent.tracestate));
    return this.#start(name, context, kind, attributes, parent.tracestate, startTime);
  }

  continue(
    traceparent: string | string[] | undefined,
    tracestate: string | string[] | undefined,
    name: string,
    kind: TraceSpanKind,
    attributes?: SpanAttributes,
    startTime?: number,
  ): ActiveTrace {
    const remote = traceparent === undefined ? undefined : parseTraceContext(traceparent, tracestate);
    return this.#start(name, remoteContext(remote), kind, attributes, remote?.state, startTime);
  }

  /** Sends the spans that ended and waits for the collector's answer (or its failure). */
  flush(): Promise<void> {
    return this.#provider.forceFlush();
  }

  /**
   * Sends what is left, then stops: spans started later are not exported. Bounded: spans a
   * collector has not taken after SHUTDOWN_LIMIT_MS are dropped.
   */
  async shutdown(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the collector did not take the last spans within ${SHUTDOWN_LIMIT_MS} ms`)),
        SHUTDOWN_LIMIT_MS,
      );
    });
    try {
      await Promise.race([this.#provider.shutdown(), limit]);
    } finally {
      clearTimeout(timer);
    }
  }

  #start(
    name: string,
    context: Context,
    kind: TraceSpanKind,
    attributes: SpanAttributes | undefined,
    tracestate: string | undefined,
    startTime?: number,
  ): ActiveTrace {
    const span = this.#tracer.startSpan(
      name,
      {
        kind: KINDS[kind],
        ...(attributes ? { attributes } : {}),
        ...(startTime !== undefined ? { startTime } : {}),
      },
      context,
    );
    const { traceId, spanId, traceFlags } = span.spanContext();
    return {
      traceId,
      traceparent: formatTraceparent(traceId, spanId, traceFlags),
      ...(tracestate !== undefined ? { tracestate } : {}),
      span: new OtelSpan(span),
    };
  }
}

/** The context of a remote parent (none: a new trace). */
function remoteContext(remote: TraceContext | undefined): Context {
  if (!remote) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: remote.traceId,
    spanId: remote.spanId,
    traceFlags: remote.flags,
    isRemote: true,
    ...(remote.state !== undefined ? { traceState: createTraceState(remote.state) } : {}),
  });
}

/** Tracing as the configuration asks: undefined (off) unless an OTLP endpoint is set. */
export function tracingFrom(config: Readonly<Config>): Tracing | undefined {
  const url = tracesUrl(config);
  if (url === undefined) return undefined;
  return new Tracing({ url, serviceName: config.otelServiceName, sampler: samplerFrom(config) });
}

/**
 * The sampler `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` name, as OpenTelemetry's SDKs
 * build it. An unsampled request still gets its trace id (recorded, passed on, and in the
 * response's `traceparent` with the sampled flag off); only its spans are not recorded.
 */
export function samplerFrom(config: Pick<Config, 'otelTracesSampler' | 'otelTracesSamplerArg'>): Sampler {
  const ratio = new TraceIdRatioBasedSampler(config.otelTracesSamplerArg);
  switch (config.otelTracesSampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio });
  }
}

/**
 * The OTLP/HTTP traces URL, as OpenTelemetry's exporters read the standard variables: the
 * traces endpoint as given, else the base endpoint with `/v1/traces` appended.
 */
export function tracesUrl(config: Pick<Config, 'otlpEndpoint' | 'otlpTracesEndpoint'>): string | undefined {
  if (config.otlpTracesEndpoint !== undefined) return config.otlpTracesEndpoint;
  if (config.otlpEndpoint === undefined) return undefined;
  return `${config.otlpEndpoint.replace(/\/+$/, '')}/v1/traces`;
}

/**
 * The trace of a request (or a queued job) that names one in `traceparent`: with a tracer, a new
 * span under it (or a new trace when it is absent or invalid); without, the caller's trace as it
 * is, with no span, or undefined when there is none. A bad header is ignored, never refused.
 */
export function traceFrom(
  tracer: Tracer | undefined,
  traceparent: string | string[] | undefined,
  tracestate: string | string[] | undefined,
  name: string,
  kind: TraceSpanKind,
  attributes?: SpanAttributes,
): ActiveTrace | undefined {
  if (tracer) return tracer.continue(traceparent, tracestate, name, kind, attributes);
  if (traceparent === undefined) return undefined;
  const remote = parseTraceContext(traceparent);
  return (
    remote && {
      traceId: remote.traceId,
      traceparent: formatTraceparent(remote.traceId, remote.spanId, remote.flags),
    }
  );
}

/** `error.type` of an error: a FaasError's code, else the error's name. */
export function errorType(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.name : 'error';
}
