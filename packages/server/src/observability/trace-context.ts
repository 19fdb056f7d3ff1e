/**
 * A W3C Trace Context (https://www.w3.org/TR/trace-context/) as a request carries it: the
 * caller's trace, the span that called, whether the caller samples it, and the vendors' state.
 */
export interface TraceContext {
  /** 32 lowercase hex digits, not all zero. */
  traceId: string;
  /** The caller's span: 16 lowercase hex digits, not all zero. */
  spanId: string;
  /** The trace flags; bit 0 is `sampled`. */
  flags: number;
  /** The `tracestate` header, when valid; passed on unchanged. */
  state?: string;
}

const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
/** Version 00's exact length; later versions may append fields after a `-`. */
const V00_LENGTH = 55;
/** What a header may hold before it is ignored unread: far past any valid one. */
const MAX_TRACEPARENT = 512;
/** W3C: list members a tracestate may hold, and the length every vendor must pass on. */
const MAX_STATE_MEMBERS = 32;
const MAX_STATE_LENGTH = 512;
const STATE_KEY = /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})$/;
// Printable ASCII but `,` and `=`, ending in a non-space.
const STATE_VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/**
 * The trace context of a request's `traceparent` and `tracestate` headers, or undefined when
 * `traceparent` is absent or invalid (the caller then starts a trace of its own: a bad header is
 * ignored, never refused). An invalid `tracestate` is dropped alone, as the specification says.
 * Headers are untrusted bytes: the parser is strict, bounded and never throws.
 */
export function parseTraceContext(
  traceparent: string | string[] | undefined,
  tracestate?: string | string[] | undefined,
): TraceContext | undefined {
  // Two traceparent headers (an array, or joined with a comma) are invalid.
  if (typeof traceparent !== 'string' || traceparent.length < V00_LENGTH) return undefined;
  if (traceparent.length > MAX_TRACEPARENT) return undefined;
  // Fields at fixed offsets, checked character by character: cheaper than a regular
  // expression, and this runs for every request that carries the header, tracing on or off.
  if (traceparent[2] !== '-' || traceparent[35] !== '-' || traceparent[52] !== '-') return undefined;
  if (!lowerHex(traceparent, 0, 2) || !lowerHex(traceparent, 3, 35)) return undefined;
  if (!lowerHex(traceparent, 36, 52) || !lowerHex(traceparent, 53, 55)) return undefined;
  const version = traceparent.slice(0, 2);
  if (version === 'ff') return undefined;
  // Version 00 is exactly its four fields; a later version may add fields after a dash.
  if (
    version === '00'
      ? traceparent.length !== V00_LENGTH
      : traceparent.length > V00_LENGTH && traceparent[V00_LENGTH] !== '-'
  )
    return undefined;
  const traceId = traceparent.slice(3, 35);
  const spanId = traceparent.slice(36, 52);
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  const context: TraceContext = { traceId, spanId, flags: Number.parseInt(traceparent.slice(53, 55), 16) };
  const state = parseTraceState(tracestate);
  if (state !== undefined) context.state = state;
  return context;
}

/** Whether `text[from, to)` is lowercase hex digits only. */
function lowerHex(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/** A valid `tracestate` header's text (several headers joined, as HTTP allows), or undefined. */
export function parseTraceState(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join(',') : header;
  if (text.length === 0 || text.length > MAX_STATE_LENGTH) return undefined;
  const members: string[] = [];
  const keys = new Set<string>();
  for (const raw of text.split(',')) {
    const member = raw.trim();
    // Empty members are allowed and dropped.
    if (member === '') continue;
    const eq = member.indexOf('=');
    if (eq <= 0) return undefined;
    const key = member.slice(0, eq);
    const value = member.slice(eq + 1);
    if (!STATE_KEY.test(key) || !STATE_VALUE.test(value) || keys.has(key)) return undefined;
    keys.add(key);
    members.push(member);
  }
  if (members.length === 0 || members.length > MAX_STATE_MEMBERS) return undefined;
  return members.join(',');
}

/** The `traceparent` header naming `spanId` of `traceId`: version 00. */
export function formatTraceparent(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-${(flags & 0xff).toString(16).padStart(2, '0')}`;
}
