import type { FunctionRuntime, FunctionVersion } from './functions.ts';
import type { InvocationError, LogLine } from './invocations.ts';

/**
 * Receives a function's console output. Must not throw. `ts` (ms since epoch) is when the line
 * was written, when that was not just now (a line that crossed from another process).
 */
export type LogSink = (level: LogLine['level'], message: string, ts?: number) => void;

export interface InvokeRequest {
  invocationId: string;
  fn: FunctionVersion;
  /** A JSON value, a string (text bodies) or a Uint8Array (binary bodies). */
  event: unknown;
  /** Absolute deadline, ms since epoch: the runtime stops the function there. */
  deadline: number;
  log: LogSink;
  signal?: AbortSignal;
  /** The trace the invocation runs in; absent when the call carried none and tracing is off. */
  trace?: InvokeTrace;
}

/** The trace an invocation runs in, as a runtime sees it. */
export interface InvokeTrace {
  /** 32 lowercase hex digits. */
  traceId: string;
  /**
   * A W3C `traceparent` naming the span that called the runtime (tracing on) or the caller's
   * span (tracing off): what the function's own outgoing requests carry on.
   */
  traceparent: string;
  /**
   * Starts a span under the runtime call (the container agent's call): the runtime ends it,
   * with an error message when the step failed. Absent when tracing is off: no span is made.
   */
  span?: (name: string, attributes?: Readonly<Record<string, string | number | boolean>>) => RuntimeSpan;
}

/** A span a runtime started through InvokeTrace.span. */
export interface RuntimeSpan {
  end(error?: string): void;
}

export interface InvokeMetrics {
  durationMs: number;
  cpuTimeMs?: number;
  peakMemoryBytes?: number;
  /**
   * A new isolate, container or process had to be made (and the code loaded) for this call: it
   * waited for that. Absent: it ran in one already warm.
   */
  coldStart?: boolean;
}

/** What became of one attempt. Runtimes never throw for function faults: they return one of these. */
export type InvokeOutcome =
  | { status: 'succeeded'; result: unknown; metrics: InvokeMetrics }
  | { status: 'failed' | 'timed_out' | 'out_of_memory'; error: InvocationError; metrics: InvokeMetrics };

/** Options of `Runtime.prepare`. */
export interface PrepareOptions {
  /**
   * Told of each slow step as it starts (`building the runtime images`, `installing npm
   * dependencies`), so a deploy can show where it is. Fast preparations say nothing.
   */
  onProgress?: (message: string) => void;
  /**
   * The version's built artifact, from a deploy that is still writing the version's blobs: a
   * runtime that loads the artifact takes its bytes from here, so the load need not wait for the
   * writes, and reads the version's blobs only once `stored` has settled (when given).
   */
  artifact?: { bytes: Uint8Array; stored?: Promise<void> };
}

export type RuntimeHealth = { ready: true } | { ready: false; reason: string };

export interface RuntimeStats {
  /** Warm (loaded, idle or busy) instances: isolates or containers. */
  warm: number;
  busy: number;
  /** Per `name:version`, warm count. */
  byVersion: Record<string, number>;
  /** Per `name:version`, idle warm count, where the runtime tells it (containers: for placement). */
  idleByVersion?: Record<string, number>;
}

/**
 * Runs function versions. Implementations: isolate (V8 via isolated-vm, in process), container
 * (Docker Engine, runc or gVisor), wasm. All must pass `defineRuntimeSuite`.
 *
 * A runtime keeps warm instances per version and reuses them. It does not enforce a function's
 * `maxConcurrency` (the caller does) but never runs more than that many instances of a version.
 */
export interface Runtime {
  readonly kind: 'isolate' | 'container' | 'wasm';
  /** Whether this runtime runs functions of that kind. */
  supports(runtime: FunctionRuntime): boolean;
  health(): Promise<RuntimeHealth>;
  /**
   * Loads a version so its first invoke is warm: everything a version needs before it can run
   * (images, dependencies, loading the handler). Deploys call it before they store a version,
   * so code that cannot run is refused. Idempotent and safe to call concurrently.
   * @throws FaasError COMPILE_ERROR when the code cannot be loaded (with file and line when
   *   known), VALIDATION for refused dependencies, RUNTIME_UNAVAILABLE.
   */
  prepare(fn: FunctionVersion, options?: PrepareOptions): Promise<void>;
  /**
   * Runs one attempt, preparing the version first when it is not warm (first call, or after idle
   * scale-to-zero or retire). Function faults (code that fails to load, throw, timeout, memory)
   * come back as an outcome; only platform faults (runtime unavailable) throw FaasError. One
   * thrown before any of the call ran is marked `refusedBeforeStart` (errors.ts): only such a
   * call may be sent to another worker.
   */
  invoke(request: InvokeRequest): Promise<InvokeOutcome>;
  /**
   * Drops warm instances of a function's versions (all when `version` is omitted) once their
   * in-flight invocations end. Called when a new version replaces an old one, or on delete.
   */
  retire(name: string, version?: number): Promise<void>;
  stats(): RuntimeStats;
  close(): Promise<void>;
}

/**
 * The runtimes one process has, and which serves each kind of function. Control code depends on
 * this, not on the registry that implements it (data/runtime-registry.ts).
 */
export interface Runtimes {
  readonly all: readonly Runtime[];
  /**
   * The runtime for a function kind.
   * @throws FaasError RUNTIME_UNAVAILABLE when none is configured or its engine is down.
   */
  forFunction(kind: FunctionRuntime): Runtime;
  /** Drains and drops the warm instances of a function (of one version, when given). */
  retire(name: string, version?: number): Promise<void>;
}
