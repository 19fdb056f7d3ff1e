import type {
  FunctionVersion,
  InvocationError,
  InvokeMetrics,
  InvokeOutcome,
  LogLine,
  RuntimeStats,
} from '@faas/core';
import { FieldReader, FrameWriter, ProtocolError } from './frames.ts';

/**
 * The messages between a serving thread (the client) and an isolate host process, one per frame
 * (frames.ts). A connection first gets the host's `hello`; the client names each function
 * version once (`define`) and then refers to it by a number it chose. Invocations travel in
 * batches: all those a thread has for one host in one turn of its event loop go together (in as
 * few frames as fit the limit), and the host answers with the outcomes it has at the end of each
 * of its turns.
 *
 * A version of this protocol; both ends are always the same build (the host is a child process).
 */
export const PROTOCOL_VERSION = 2;

export const MessageType = {
  // client → host
  define: 0x44, // D
  invoke: 0x42, // B
  abort: 0x41, // A
  prepare: 0x50, // P
  retire: 0x52, // R
  stats: 0x53, // S
  // host → client
  hello: 0x48, // H
  outcomes: 0x4f, // O
  logs: 0x4c, // L
  prepared: 0x59, // Y
  statsReply: 0x54, // T
} as const;

/** How an event travels: the host rebuilds the same value (JSON as its text, not parsed). */
export const EventKind = { undefined: 0, json: 1, text: 2, bytes: 3 } as const;
export type EventKind = (typeof EventKind)[keyof typeof EventKind];

export interface InvokeItem {
  seq: number;
  versionId: number;
  deadline: number;
  invocationId: string;
  /** The W3C `traceparent` the invocation runs in (its trace id is the function's `context.traceId`); '' for none. */
  traceparent: string;
  eventKind: EventKind;
  payload: Uint8Array;
}

/** The only traceparent the server sends (formatTraceparent): version 00. */
const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

const LOG_LEVELS: readonly LogLine['level'][] = ['debug', 'info', 'warn', 'error', 'log'];
const STATUSES = ['succeeded', 'failed', 'timed_out', 'out_of_memory'] as const;
/** An outcome's status byte for a platform fault: the value is `{ code, message }`. */
const PLATFORM_ERROR = 4;
const RESULT_KIND = { undefined: 0, json: 1, bytes: 2 } as const;

/** One invocation's end as it crosses: its outcome, or a platform error, and its last log lines. */
export type OutcomeItem =
  | { seq: number; outcome: InvokeOutcome; logs: LogEntry[] }
  | { seq: number; platformError: { code: string; message: string }; logs: LogEntry[] };

export interface LogEntry {
  level: LogLine['level'];
  ts: number;
  message: string;
}

export function encodeDefine(versionId: number, fn: FunctionVersion): Buffer {
  return new FrameWriter(MessageType.define, 512).u32(versionId).str(JSON.stringify(fn)).finish();
}

export function decodeDefine(body: Buffer): { versionId: number; fn: FunctionVersion } {
  const r = new FieldReader(body);
  const versionId = r.u32();
  const fn = parseJson(r.str()) as FunctionVersion;
  r.end();
  if (typeof fn !== 'object' || fn === null || typeof fn.name !== 'string' || !Number.isInteger(fn.version)) {
    throw new ProtocolError('A define without a function version');
  }
  return { versionId, fn };
}

/** What an invoke frame takes besides its items, as FrameReader counts: type and count. */
export const INVOKE_FRAME_OVERHEAD = 5;

/** The bytes `item` takes in an invoke frame (see encodeInvokeBatch). */
export function invokeItemBytes(item: InvokeItem): number {
  return (
    29 + Buffer.byteLength(item.invocationId) + Buffer.byteLength(item.traceparent) + item.payload.length
  );
}

export function encodeInvokeBatch(items: readonly InvokeItem[]): Buffer {
  let size = 9;
  for (const item of items)
    size += 34 + item.invocationId.length + item.traceparent.length + item.payload.length;
  const w = new FrameWriter(MessageType.invoke, size).u32(items.length);
  for (const item of items) {
    w.u32(item.seq).u32(item.versionId).f64(item.deadline).u8(item.eventKind);
    w.str(item.invocationId).str(item.traceparent).bytes(item.payload);
  }
  return w.finish();
}

export function decodeInvokeBatch(body: Buffer): InvokeItem[] {
  const r = new FieldReader(body);
  const count = r.u32();
  // Each item takes at least 29 bytes: a count the body cannot hold is a lie, not a loop bound.
  if (count * 29 > body.length) throw new ProtocolError(`A batch claiming ${count} invocations`);
  const items: InvokeItem[] = [];
  for (let i = 0; i < count; i++) {
    const seq = r.u32();
    const versionId = r.u32();
    const deadline = r.f64();
    const eventKind = r.u8();
    if (eventKind > EventKind.bytes) throw new ProtocolError(`Unknown event kind ${eventKind}`);
    const invocationId = r.str();
    const traceparent = r.str();
    if (traceparent.length !== 0 && !TRACEPARENT.test(traceparent))
      throw new ProtocolError('A traceparent that is not W3C version 00');
    const payload = r.bytes();
    items.push({
      seq,
      versionId,
      deadline,
      invocationId,
      traceparent,
      eventKind: eventKind as EventKind,
      payload,
    });
  }
  r.end();
  return items;
}

export function encodeSeq(type: number, seq: number): Buffer {
  return new FrameWriter(type, 16).u32(seq).finish();
}

export function decodeSeq(body: Buffer): number {
  const r = new FieldReader(body);
  const seq = r.u32();
  r.end();
  return seq;
}

/** A prepare request: the version to load, and its artifact when the server sends it along. */
export function encodePrepare(seq: number, versionId: number, artifact?: Uint8Array): Buffer {
  const writer = new FrameWriter(MessageType.prepare, 32 + (artifact?.byteLength ?? 0))
    .u32(seq)
    .u32(versionId);
  return (artifact ? writer.u8(1).bytes(artifact) : writer.u8(0)).finish();
}

export function decodePrepare(body: Buffer): { seq: number; versionId: number; artifact?: Buffer } {
  const r = new FieldReader(body);
  const seq = r.u32();
  const versionId = r.u32();
  const carried = r.u8();
  if (carried > 1) throw new ProtocolError(`Unknown artifact flag ${carried}`);
  const artifact = carried === 1 ? r.bytes() : undefined;
  r.end();
  return artifact ? { seq, versionId, artifact } : { seq, versionId };
}

/** `version` undefined: every version of the function. */
export function encodeRetire(name: string, version: number | undefined): Buffer {
  return new FrameWriter(MessageType.retire, 64)
    .str(name)
    .f64(version ?? Number.NaN)
    .finish();
}

export function decodeRetire(body: Buffer): { name: string; version: number | undefined } {
  const r = new FieldReader(body);
  const name = r.str();
  const version = r.f64();
  r.end();
  return { name, version: Number.isNaN(version) ? undefined : version };
}

export function encodeHello(pid: number): Buffer {
  return new FrameWriter(MessageType.hello, 16).u32(pid).u32(PROTOCOL_VERSION).finish();
}

export function decodeHello(body: Buffer): { pid: number } {
  const r = new FieldReader(body);
  const pid = r.u32();
  const version = r.u32();
  r.end();
  if (version !== PROTOCOL_VERSION)
    throw new ProtocolError(`Host protocol ${version}, expected ${PROTOCOL_VERSION}`);
  return { pid };
}

/** An outcome's `metrics.coldStart` on the wire. */
const COLD_START = { unknown: 0, cold: 1, warm: 2 } as const;

export function encodeOutcomes(items: readonly OutcomeItem[]): Buffer {
  const w = new FrameWriter(MessageType.outcomes, 256 * items.length).u32(items.length);
  for (const item of items) {
    w.u32(item.seq);
    if ('platformError' in item) {
      w.u8(PLATFORM_ERROR).f64(0).f64(Number.NaN).f64(Number.NaN).u8(COLD_START.unknown);
      w.u8(RESULT_KIND.json);
      w.str(JSON.stringify(item.platformError));
    } else {
      const { outcome, resultJson } = encodable(item.outcome);
      const m = outcome.metrics;
      // The client drops a connection whose outcome has no duration: a number that went wrong
      // in measuring is sent as 0 (and an optional one as absent), failing nothing.
      w.u8(STATUSES.indexOf(outcome.status)).f64(finiteOr(m.durationMs, 0));
      w.f64(finiteOr(m.cpuTimeMs, Number.NaN)).f64(finiteOr(m.peakMemoryBytes, Number.NaN));
      w.u8(m.coldStart === undefined ? COLD_START.unknown : m.coldStart ? COLD_START.cold : COLD_START.warm);
      if (outcome.status !== 'succeeded') {
        w.u8(RESULT_KIND.json).str(JSON.stringify(outcome.error));
      } else if (resultJson !== undefined) {
        w.u8(RESULT_KIND.json).str(resultJson);
      } else if (outcome.result instanceof Uint8Array) {
        w.u8(RESULT_KIND.bytes).bytes(outcome.result);
      } else {
        w.u8(RESULT_KIND.undefined).u32(0);
      }
    }
    writeLogs(w, item.logs);
  }
  return w.finish();
}

/**
 * The outcome with its result as JSON (undefined for bytes or no result), or when the result
 * cannot be written as JSON (decodeReply already refused results nested too deep; should one
 * still overflow the stack) a failure saying so: never an exception that ends the host and every
 * call it holds.
 */
function encodable(outcome: InvokeOutcome): { outcome: InvokeOutcome; resultJson?: string } {
  if (
    outcome.status !== 'succeeded' ||
    outcome.result === undefined ||
    outcome.result instanceof Uint8Array
  ) {
    return { outcome };
  }
  try {
    return { outcome, resultJson: JSON.stringify(outcome.result) };
  } catch (err) {
    const message = `The function's result cannot be written as JSON: ${(err as Error).message}`;
    return {
      outcome: { status: 'failed', error: { type: 'InvalidResult', message }, metrics: outcome.metrics },
    };
  }
}

/**
 * The outcomes in frames of at most `maxFrameBytes` (as FrameReader counts them), in order. An
 * outcome that fits in no frame fails, type InvalidResult: the thread's reader would refuse it
 * and drop the connection, with every call the thread had on the host.
 */
export function encodeOutcomeFrames(items: readonly OutcomeItem[], maxFrameBytes: number): Buffer[] {
  return splitFrames(items, encodeOutcomes, maxFrameBytes, (item) => {
    const message = `The invocation's outcome is too large to leave its isolate host (a frame holds at most ${maxFrameBytes} bytes)`;
    const metrics = 'outcome' in item ? item.outcome.metrics : { durationMs: 0 };
    const failed: OutcomeItem = {
      seq: item.seq,
      outcome: { status: 'failed', error: { type: 'InvalidResult', message }, metrics },
      logs: item.logs,
    };
    const frame = encodeOutcomes([failed]);
    return [fits(frame, maxFrameBytes) ? frame : encodeOutcomes([{ ...failed, logs: [] }])];
  });
}

/** The lines in frames of at most `maxFrameBytes`, in order (see encodeOutcomeFrames). */
export function encodeLogFrames(batches: readonly LogBatch[], maxFrameBytes: number): Buffer[] {
  return splitFrames(batches, encodeLogs, maxFrameBytes, function alone(batch): Buffer[] {
    const { seq, logs } = batch;
    if (logs.length > 1) {
      const half = Math.ceil(logs.length / 2);
      const parts = [
        { seq, logs: logs.slice(0, half) },
        { seq, logs: logs.slice(half) },
      ];
      return splitFrames(parts, encodeLogs, maxFrameBytes, alone);
    }
    // One line larger than a frame (log output is capped far below it): a marker goes instead.
    const line = logs[0] as LogEntry;
    const marker = { ...line, level: 'warn' as const, message: '[a log line too large to send was dropped]' };
    return [encodeLogs([{ seq, logs: [marker] }])];
  });
}

function fits(frame: Buffer, maxFrameBytes: number): boolean {
  return frame.length - 4 <= maxFrameBytes;
}

/**
 * `items` encoded in frames of at most `maxFrameBytes`, in order: all in one frame when they fit
 * (the common case, encoded once), else each half on its own, and so on; `alone` encodes a
 * single item that fits in no frame.
 */
function splitFrames<T>(
  items: readonly T[],
  encode: (items: readonly T[]) => Buffer,
  maxFrameBytes: number,
  alone: (item: T) => Buffer[],
): Buffer[] {
  if (items.length === 0) return [];
  const frame = encode(items);
  if (fits(frame, maxFrameBytes)) return [frame];
  if (items.length === 1) return alone(items[0] as T);
  const half = Math.ceil(items.length / 2);
  return [
    ...splitFrames(items.slice(0, half), encode, maxFrameBytes, alone),
    ...splitFrames(items.slice(half), encode, maxFrameBytes, alone),
  ];
}

/**
 * Lines functions wrote while they run, sent at the end of each of the host's turns rather than
 * with the outcome: a host killed because a function would not stop has already sent them.
 */
export function encodeLogs(batches: readonly LogBatch[]): Buffer {
  let size = 8;
  for (const batch of batches) for (const log of batch.logs) size += 16 + log.message.length;
  const w = new FrameWriter(MessageType.logs, size).u32(batches.length);
  for (const batch of batches) writeLogs(w.u32(batch.seq), batch.logs);
  return w.finish();
}

export function decodeLogs(body: Buffer): LogBatch[] {
  const r = new FieldReader(body);
  const count = r.u32();
  if (count * 8 > body.length) throw new ProtocolError(`A log batch claiming ${count} invocations`);
  const batches: LogBatch[] = [];
  for (let i = 0; i < count; i++) batches.push({ seq: r.u32(), logs: readLogs(r) });
  r.end();
  return batches;
}

export interface LogBatch {
  seq: number;
  logs: LogEntry[];
}

export function decodeOutcomes(body: Buffer): OutcomeItem[] {
  const r = new FieldReader(body);
  const count = r.u32();
  if (count * 39 > body.length) throw new ProtocolError(`An outcome batch claiming ${count} items`);
  const items: OutcomeItem[] = [];
  for (let i = 0; i < count; i++) {
    const seq = r.u32();
    const status = r.u8();
    const metrics = readMetrics(r);
    const kind = r.u8();
    const value = r.bytes();
    const logs = readLogs(r);
    if (status === PLATFORM_ERROR) {
      const error = parseJson(value.toString('utf8')) as { code?: unknown; message?: unknown };
      items.push({
        seq,
        platformError: { code: String(error?.code), message: String(error?.message) },
        logs,
      });
      continue;
    }
    const name = STATUSES[status];
    if (name === undefined) throw new ProtocolError(`Unknown outcome status ${status}`);
    if (name === 'succeeded') {
      items.push({ seq, outcome: { status: name, result: readResult(kind, value), metrics }, logs });
    } else {
      items.push({ seq, outcome: { status: name, error: readError(value), metrics }, logs });
    }
  }
  r.end();
  return items;
}

export type PrepareAnswer =
  | { ok: true }
  | { ok: false; loadError: { message: string; details: unknown } }
  | { ok: false; platformError: { code: string; message: string } };

export function encodePrepared(seq: number, answer: PrepareAnswer): Buffer {
  const w = new FrameWriter(MessageType.prepared, 256).u32(seq);
  if (answer.ok) return w.u8(0).str('').finish();
  if ('loadError' in answer) return w.u8(1).str(JSON.stringify(answer.loadError)).finish();
  return w.u8(2).str(JSON.stringify(answer.platformError)).finish();
}

export function decodePrepared(body: Buffer): { seq: number; answer: PrepareAnswer } {
  const r = new FieldReader(body);
  const seq = r.u32();
  const kind = r.u8();
  const text = r.str();
  r.end();
  if (kind === 0) return { seq, answer: { ok: true } };
  const value = parseJson(text) as { message?: unknown; details?: unknown; code?: unknown };
  if (kind === 1) {
    return {
      seq,
      answer: { ok: false, loadError: { message: String(value?.message), details: value?.details } },
    };
  }
  if (kind === 2) {
    return {
      seq,
      answer: { ok: false, platformError: { code: String(value?.code), message: String(value?.message) } },
    };
  }
  throw new ProtocolError(`Unknown prepare answer ${kind}`);
}

export function encodeStatsReply(seq: number, stats: unknown): Buffer {
  return new FrameWriter(MessageType.statsReply, 256).u32(seq).str(JSON.stringify(stats)).finish();
}

/** What a host answers a stats message with: its runtime's stats and its process's memory. */
export interface HostStats extends RuntimeStats {
  process?: { rssBytes: number; heapUsedBytes: number };
}

/** A stats reply's value, checked (anything else reads as no answer). */
export function hostStatsOf(value: unknown): HostStats | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (!isCount(v.warm) || !isCount(v.busy)) return undefined;
  const byVersion: Record<string, number> = {};
  if (typeof v.byVersion === 'object' && v.byVersion !== null) {
    for (const [key, count] of Object.entries(v.byVersion)) if (isCount(count)) byVersion[key] = count;
  }
  const stats: HostStats = { warm: v.warm, busy: v.busy, byVersion };
  const p = v.process as Record<string, unknown> | undefined;
  if (typeof p === 'object' && p !== null && isCount(p.rssBytes) && isCount(p.heapUsedBytes)) {
    stats.process = { rssBytes: p.rssBytes, heapUsedBytes: p.heapUsedBytes };
  }
  return stats;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

export function decodeStatsReply(body: Buffer): { seq: number; stats: unknown } {
  const r = new FieldReader(body);
  const seq = r.u32();
  const stats = parseJson(r.str());
  r.end();
  return { seq, stats };
}

/** `value` when it is a finite number of zero or more, else `otherwise`. */
function finiteOr(value: number | undefined, otherwise: number): number {
  return value !== undefined && Number.isFinite(value) && value >= 0 ? value : otherwise;
}

function readMetrics(r: FieldReader): InvokeMetrics {
  const durationMs = r.f64();
  const cpuTimeMs = r.f64();
  const peakMemoryBytes = r.f64();
  const cold = r.u8();
  if (!Number.isFinite(durationMs)) throw new ProtocolError('An outcome without a duration');
  if (cold > COLD_START.warm) throw new ProtocolError(`Unknown cold start flag ${cold}`);
  return {
    durationMs,
    ...(Number.isFinite(cpuTimeMs) ? { cpuTimeMs } : {}),
    ...(Number.isFinite(peakMemoryBytes) ? { peakMemoryBytes } : {}),
    ...(cold !== COLD_START.unknown ? { coldStart: cold === COLD_START.cold } : {}),
  };
}

function writeLogs(w: FrameWriter, logs: readonly LogEntry[]): void {
  w.u32(logs.length);
  for (const log of logs) w.u8(LOG_LEVELS.indexOf(log.level)).f64(log.ts).str(log.message);
}

function readLogs(r: FieldReader): LogEntry[] {
  const count = r.u32();
  const logs: LogEntry[] = [];
  for (let i = 0; i < count; i++) {
    const level = LOG_LEVELS[r.u8()];
    if (level === undefined) throw new ProtocolError('Unknown log level');
    logs.push({ level, ts: r.f64(), message: r.str() });
  }
  return logs;
}

function readResult(kind: number, value: Buffer): unknown {
  switch (kind) {
    case RESULT_KIND.undefined:
      return undefined;
    case RESULT_KIND.json:
      return parseJson(value.toString('utf8'));
    case RESULT_KIND.bytes:
      // A copy: the frame's buffer may be a slice of a larger one the reader reuses.
      return new Uint8Array(value);
    default:
      throw new ProtocolError(`Unknown result kind ${kind}`);
  }
}

function readError(value: Buffer): InvocationError {
  const raw = parseJson(value.toString('utf8')) as Partial<InvocationError> | null;
  if (typeof raw !== 'object' || raw === null) throw new ProtocolError('An error that is not an object');
  return {
    type: typeof raw.type === 'string' ? raw.type : 'Error',
    message: typeof raw.message === 'string' ? raw.message : '',
    ...(typeof raw.stack === 'string' ? { stack: raw.stack } : {}),
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ProtocolError('A field that is not JSON');
  }
}
