/**
 * Attribute names: OpenTelemetry's semantic conventions where they name the thing
 * (`faas.invocation_id`, `faas.invoked_name`, `faas.trigger`, `http.*`, `db.operation.name`),
 * `faas.*` of our own otherwise.
 */
export const TraceAttr = {
  invocationId: 'faas.invocation_id',
  functionName: 'faas.invoked_name',
  version: 'faas.version',
  project: 'faas.project',
  trigger: 'faas.trigger',
  runtime: 'faas.runtime',
  outcome: 'faas.outcome',
  attempt: 'faas.attempt',
  /** How long until a failed async job's next attempt is due. */
  retryDelayMs: 'faas.retry.delay_ms',
  storeOperation: 'db.operation.name',
  httpMethod: 'http.request.method',
  httpRoute: 'http.route',
  httpStatus: 'http.response.status_code',
  errorType: 'error.type',
} as const;

/** Attributes of a span: OpenTelemetry's semantic-convention names where they exist. */
export type SpanAttributes = Readonly<Record<string, string | number | boolean>>;

/** What a span stands for (OpenTelemetry's SpanKind). */
export type TraceSpanKind = 'internal' | 'server' | 'client' | 'producer' | 'consumer';

/** A span a Tracer started; ended once. */
export interface TraceSpan {
  setAttributes(attributes: SpanAttributes): void;
  /** Ends it; failed when `error` is given (an Error, a FaasError, or a message). */
  end(error?: unknown): void;
}

/**
 * The trace a step runs in, passed down explicitly (nothing is tracked across awaits). Absent
 * when the request carried no valid `traceparent` and tracing is off: then traces cost nothing.
 */
export interface ActiveTrace {
  /** 32 lowercase hex digits. */
  traceId: string;
  /** The W3C `traceparent` to pass on: of `span` when tracing is on, else the caller's. */
  traceparent: string;
  /** The caller's `tracestate`, passed on with `traceparent`. */
  tracestate?: string;
  /** This step's span: present only when tracing is on. */
  span?: TraceSpan;
}

/**
 * Makes spans and exports them (OpenTelemetry over OTLP: observability/tracing.ts). Present only
 * when tracing is on; code that holds none makes no span.
 */
export interface Tracer {
  /** A step under `parent`: its span is a child of `parent.span` (or of `parent.traceparent`). */
  child(
    parent: ActiveTrace,
    name: string,
    kind?: TraceSpanKind,
    attributes?: SpanAttributes,
    /** When the step began, ms since the epoch, if before now (a wait measured as it ended). */
    startTime?: number,
  ): ActiveTrace;
  /**
   * A span under the W3C context a request or a queued job carries (a new trace when it is
   * absent or invalid: a bad header is ignored).
   */
  continue(
    traceparent: string | string[] | undefined,
    tracestate: string | string[] | undefined,
    name: string,
    kind: TraceSpanKind,
    attributes?: SpanAttributes,
    /** When the step began, ms since the epoch, if before now. */
    startTime?: number,
  ): ActiveTrace;
}
