import type { FunctionVersion, InvocationError, InvokeMetrics, InvokeOutcome, LogLine } from '@faas/core';

/**
 * What crosses between a gateway and a worker, as JSON. Events and results are JSON values,
 * strings or bytes; bytes travel as base64 in a tagged wrapper so they come back as Uint8Array.
 */
export type WireValue =
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; value: string }
  | { kind: 'bytes'; base64: string };

export function toWire(value: unknown): WireValue {
  if (value instanceof Uint8Array) return { kind: 'bytes', base64: Buffer.from(value).toString('base64') };
  if (typeof value === 'string') return { kind: 'text', value };
  return { kind: 'json', value };
}

export function fromWire(wire: WireValue): unknown {
  return wire.kind === 'bytes' ? new Uint8Array(Buffer.from(wire.base64, 'base64')) : wire.value;
}

/**
 * POST /internal/v1/invoke. The version is named by its digest (version-digest.ts); the whole
 * version rides along only when the worker answered `unknownVersion` to the same call without it.
 */
export interface InvokeCall {
  invocationId: string;
  digest: string;
  fn?: FunctionVersion;
  event: WireValue;
  /** Absolute, ms since epoch: the nodes' clocks are assumed in step (NTP), as the queue's leases assume. */
  deadline: number;
  traceparent?: string;
}

export type WireOutcome =
  | { status: 'succeeded'; result: WireValue; metrics: InvokeMetrics }
  | { status: 'failed' | 'timed_out' | 'out_of_memory'; error: InvocationError; metrics: InvokeMetrics };

/**
 * The answer to an InvokeCall: the outcome and the function's log lines, in order; or, to a call
 * without `fn`, that the worker has no copy of that digest (nothing ran: the gateway sends it again
 * with `fn`).
 */
export type InvokeAnswer = { outcome: WireOutcome; logs: LogLine[] } | { unknownVersion: true };

export function outcomeToWire(outcome: InvokeOutcome): WireOutcome {
  return outcome.status === 'succeeded' ? { ...outcome, result: toWire(outcome.result) } : outcome;
}

export function outcomeFromWire(wire: WireOutcome): InvokeOutcome {
  return wire.status === 'succeeded' ? { ...wire, result: fromWire(wire.result) } : wire;
}

/** The header a node's calls carry the cluster secret in. */
export const CLUSTER_AUTH_HEADER = 'authorization';
export const clusterAuthValue = (secret: string): string => `Cluster ${secret}`;
/**
 * The header a gateway names the caller in when it forwards a user's request to a worker's
 * /api/v1 (gateway/cluster-principal.ts makes and reads its value); a worker believes it only
 * beside the cluster secret.
 */
export const PRINCIPAL_HEADER = 'x-faas-cluster-principal';

/** POST /internal/v1/execute: a run's request as the gateway checked it, its project set. */
export interface ExecuteCall {
  request: { project?: string; timeoutMs?: number };
  /** An execute mode that runs a command (not persistent). */
  mode: string;
  /** Whether the worker sends output lines as they come (the caller asked for a stream). */
  stream: boolean;
}

/** The NDJSON lines a worker answers an ExecuteCall with; the last is `result` or `error`. */
export type ExecuteLine =
  | { type: 'stdout' | 'stderr'; base64: string }
  | { type: 'result'; result: unknown }
  | { type: 'error'; error: { code: string; message: string; details?: unknown } };

/**
 * Set on a worker's error answer only when it turned the call away before any of it ran
 * (draining, its engine down, no container could be started: a refusal, @faas/core's
 * isRefusedBeforeStart). A gateway sends only such a call to another worker; any other error may
 * have come after the function started, and a second run would repeat its side effects.
 */
export const NOT_STARTED_HEADER = 'x-faas-not-started';
