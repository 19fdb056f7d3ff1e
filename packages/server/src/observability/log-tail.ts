import { randomBytes } from 'node:crypto';
import type { Invocation, NewLogLine } from '@faas/core';

/** One event of a live tail, as `GET /api/v1/logs/stream` sends it (docs/api.md). */
export type TailEvent =
  | {
      type: 'start';
      invocationId: string;
      functionName: string;
      version: number;
      mode: Invocation['mode'];
      trigger: Invocation['trigger'];
      attempt: number;
      ts: number;
    }
  | { type: 'log'; invocationId: string; functionName: string; ts: number; level: string; message: string }
  | {
      type: 'end';
      invocationId: string;
      functionName: string;
      status: Invocation['status'];
      ts: number;
      durationMs?: number;
      error?: { type: string; message: string };
    };

/** A tail event with its id: `<epoch>.<entry>.<index>`, increasing within one server's life. */
export interface IdentifiedEvent {
  id: string;
  event: TailEvent;
}

/** What a tail reads of a finished invocation or attempt. */
export type TailedInvocation = Pick<
  Invocation,
  | 'id'
  | 'functionName'
  | 'version'
  | 'mode'
  | 'trigger'
  | 'status'
  | 'attempts'
  | 'createdAt'
  | 'startedAt'
  | 'finishedAt'
  | 'durationMs'
  | 'error'
>;

/**
 * What happened to invocations, as kept for replay: references to records the recorder and the
 * queue consumer hold anyway, turned into events only for a tail that reads them.
 */
type Entry =
  | { kind: 'finished'; invocation: TailedInvocation; logs: readonly NewLogLine[]; started: boolean }
  | {
      kind: 'started';
      invocation: Pick<Invocation, 'id' | 'functionName' | 'version' | 'mode' | 'trigger'>;
      attempt: number;
      ts: number;
    };

type Listener = (events: IdentifiedEvent[]) => void;

export interface LogTailOptions {
  /** Entries kept for resuming with Last-Event-ID. @default 10000 */
  maxEntries?: number;
  /** Bytes of log lines kept for resuming (a line counts its length). @default 16777216 */
  maxBytes?: number;
  /** How long a function's events are kept after its last tail went away (for it to resume). @default 300000 */
  keepAfterTailMs?: number;
}

/**
 * The live tail of invocations: each invocation's start, log lines and end, per function, with
 * ids a client resumes from (Last-Event-ID). Fed in the main thread, where every gateway thread's
 * sync records and every async attempt arrive. Only functions tailed now (or until
 * `keepAfterTailMs` after their last tail left, so that it can resume) are kept: for the others a
 * publish costs one Map lookup. What is kept is bounded in entries and bytes, and holds the
 * fields events need, never results. Ids carry an epoch drawn at start, so an id from before a
 * restart is told apart (its replay is not possible: `resume` says so).
 */
export class LogTail {
  readonly epoch = randomBytes(4).toString('hex');
  #entries: { seq: number; entry: Entry; bytes: number }[] = [];
  #bytes = 0;
  #nextSeq = 1;
  #max: number;
  #maxBytes: number;
  #keepMs: number;
  #listeners = new Map<string, Set<Listener>>();
  /** Functions whose events are kept: since which entry, and until when (Infinity while tailed). */
  #kept = new Map<string, { since: number; until: number }>();

  constructor(options: LogTailOptions = {}) {
    this.#max = options.maxEntries ?? 10_000;
    this.#maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
    this.#keepMs = options.keepAfterTailMs ?? 300_000;
  }

  /** A sync invocation finished (or was turned away), or an async attempt ended. */
  finished(invocation: TailedInvocation, logs: readonly NewLogLine[], started = false): void {
    if (!this.#kept.has(invocation.functionName)) return;
    this.#push({ kind: 'finished', invocation: slim(invocation), logs, started });
  }

  /** An async attempt started (its end comes with `finished(…, true)`). */
  started(
    invocation: Pick<Invocation, 'id' | 'functionName' | 'version' | 'mode' | 'trigger'>,
    attempt: number,
  ): void {
    this.#push({ kind: 'started', invocation, attempt, ts: Date.now() });
  }

  /** Calls `listener` with each later event of `functionName`; the returned function stops it. */
  subscribe(functionName: string, listener: Listener): () => void {
    let set = this.#listeners.get(functionName);
    if (!set) {
      set = new Set();
      this.#listeners.set(functionName, set);
    }
    set.add(listener);
    const kept = this.#kept.get(functionName);
    if (kept && kept.until >= Date.now()) kept.until = Number.POSITIVE_INFINITY;
    else this.#kept.set(functionName, { since: this.#nextSeq, until: Number.POSITIVE_INFINITY });
    return () => {
      set.delete(listener);
      if (set.size > 0 || this.#listeners.get(functionName) !== set) return;
      this.#listeners.delete(functionName);
      const k = this.#kept.get(functionName);
      if (k) k.until = Date.now() + this.#keepMs;
    };
  }

  /**
   * The kept events of `functionName` after `lastEventId`. `complete: false` when some could not
   * be replayed: the id is from another epoch (a restart) or older than what is kept.
   */
  resume(functionName: string, lastEventId: string): { events: IdentifiedEvent[]; complete: boolean } {
    const parsed = parseId(lastEventId);
    if (!parsed || parsed.epoch !== this.epoch) return { events: [], complete: false };
    const oldest = this.#entries[0]?.seq ?? this.#nextSeq;
    const keptSince = this.#kept.get(functionName)?.since ?? this.#nextSeq;
    // The entry last seen must still be kept, and the function's entries kept since before it:
    // then no event after it was dropped.
    const complete = parsed.seq >= oldest && parsed.seq >= keptSince;
    const events: IdentifiedEvent[] = [];
    for (const { seq, entry } of this.#entries) {
      if (seq < parsed.seq || entry.invocation.functionName !== functionName) continue;
      for (const e of this.#events(seq, entry)) {
        if (seq > parsed.seq || indexOf(e.id) > parsed.index) events.push(e);
      }
    }
    return { events, complete };
  }

  #push(entry: Entry): void {
    const name = entry.invocation.functionName;
    const kept = this.#kept.get(name);
    if (!kept) return;
    if (kept.until < Date.now()) {
      this.#kept.delete(name);
      return;
    }
    const seq = this.#nextSeq++;
    let bytes = 256;
    if (entry.kind === 'finished') for (const line of entry.logs) bytes += 64 + line.message.length;
    this.#entries.push({ seq, entry, bytes });
    this.#bytes += bytes;
    this.#trim();
    const listeners = this.#listeners.get(entry.invocation.functionName);
    if (!listeners) return;
    const events = this.#events(seq, entry);
    for (const listener of listeners) listener(events);
  }

  /** Drops the oldest entries past the bounds, in chunks: one splice per many pushes. */
  #trim(): void {
    const entries = this.#entries;
    if (entries.length <= this.#max * 1.125 && this.#bytes <= this.#maxBytes) return;
    let drop = 0;
    while (
      drop < entries.length - 1 &&
      (entries.length - drop > this.#max || this.#bytes > this.#maxBytes * 0.875)
    ) {
      this.#bytes -= (entries[drop] as { bytes: number }).bytes;
      drop++;
    }
    entries.splice(0, drop);
  }

  #events(seq: number, entry: Entry): IdentifiedEvent[] {
    const id = (i: number) => `${this.epoch}.${seq}.${i}`;
    if (entry.kind === 'started') {
      const { invocation: inv } = entry;
      return [{ id: id(0), event: startEvent(inv, entry.attempt, entry.ts) }];
    }
    const { invocation: inv, logs } = entry;
    const out: IdentifiedEvent[] = [];
    let i = 0;
    if (!entry.started) {
      out.push({
        id: id(i++),
        event: startEvent(inv, Math.max(1, inv.attempts), Date.parse(inv.startedAt ?? inv.createdAt)),
      });
    }
    for (const line of logs) {
      out.push({
        id: id(i++),
        event: {
          type: 'log',
          invocationId: inv.id,
          functionName: inv.functionName,
          ts: line.ts,
          level: line.level,
          message: line.message,
        },
      });
    }
    out.push({
      id: id(i),
      event: {
        type: 'end',
        invocationId: inv.id,
        functionName: inv.functionName,
        status: inv.status,
        ts: Date.parse(inv.finishedAt ?? inv.createdAt),
        ...(inv.durationMs !== undefined ? { durationMs: inv.durationMs } : {}),
        ...(inv.error ? { error: { type: inv.error.type, message: inv.error.message } } : {}),
      },
    });
    return out;
  }
}

function parseId(raw: string): { epoch: string; seq: number; index: number } | undefined {
  const m = /^([0-9a-f]{8})\.(\d{1,15})\.(\d{1,9})$/.exec(raw);
  if (!m) return undefined;
  return { epoch: m[1] as string, seq: Number(m[2]), index: Number(m[3]) };
}

function indexOf(id: string): number {
  return Number(id.slice(id.lastIndexOf('.') + 1));
}

/** The fields events are made of: a record's result (up to megabytes) is not kept. */
function slim(inv: TailedInvocation): TailedInvocation {
  const { id, functionName, version, mode, trigger, status, attempts, createdAt } = inv;
  return {
    id,
    functionName,
    version,
    mode,
    trigger,
    status,
    attempts,
    createdAt,
    ...(inv.startedAt !== undefined ? { startedAt: inv.startedAt } : {}),
    ...(inv.finishedAt !== undefined ? { finishedAt: inv.finishedAt } : {}),
    ...(inv.durationMs !== undefined ? { durationMs: inv.durationMs } : {}),
    ...(inv.error ? { error: { type: inv.error.type, message: inv.error.message } } : {}),
  };
}

/** The `start` event of an invocation's attempt. */
function startEvent(
  inv: Pick<TailedInvocation, 'id' | 'functionName' | 'version' | 'mode' | 'trigger'>,
  attempt: number,
  ts: number,
): TailEvent {
  return {
    type: 'start',
    invocationId: inv.id,
    functionName: inv.functionName,
    version: inv.version,
    mode: inv.mode,
    trigger: inv.trigger,
    attempt,
    ts,
  };
}
