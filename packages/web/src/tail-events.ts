/**
 * The live tail's page state, built from `GET /api/v1/logs/stream`'s events (docs/api.md): pure,
 * so node:test checks it (test/web/tail-events.test.ts) without a browser.
 */

import { ms } from './format.ts';

/** One line of the tail as the page shows it. */
export interface TailEntry {
  /** The event's id; gaps have none. */
  id?: string;
  kind: 'start' | 'log' | 'end' | 'gap';
  /** When it happened (ms since the epoch); absent for a gap. */
  ts?: number;
  invocationId?: string;
  text: string;
  /** An `end` that is not a success, and `error`-level lines. */
  bad: boolean;
}

export interface TailState {
  entries: readonly TailEntry[];
  /** The newest event id taken, to drop what a reconnect sends again. */
  lastId?: string;
}

export const EMPTY_TAIL: TailState = { entries: [] };

/** Lines kept on screen; older ones scroll away. */
export const TAIL_KEEP = 200;

/**
 * The state after one event: `type` and `data` as the EventSource delivered them, `id` its
 * `lastEventId`. An event at or before the newest id taken is dropped: EventSource resumes with
 * Last-Event-ID after a drop, and a line must not show twice. Ids are `<epoch>.<entry>.<index>`,
 * increasing within one server's life; an id of another epoch (a restarted server) is new. A
 * `gap` is always shown (it has no id of its own: EventSource repeats the previous one).
 */
export function applyTailEvent(state: TailState, type: string, id: string, data: string): TailState {
  if (type === 'gap') {
    const reason = field(parse(data), 'reason');
    const entry: TailEntry = {
      kind: 'gap',
      text: `— some events were missed${reason ? `: ${reason}` : ''}`,
      bad: true,
    };
    return { ...state, entries: keep([...state.entries, entry]) };
  }
  if (type !== 'start' && type !== 'log' && type !== 'end') return state;
  if (id && state.lastId && !isAfter(id, state.lastId)) return state;
  const event = parse(data);
  if (!event) return state;
  const entry = entryOf(type, event, id);
  return { entries: keep([...state.entries, entry]), ...(id ? { lastId: id } : {}) };
}

/**
 * How an entry reads on one line: the time of day (UTC, to the ms) and the invocation id's end,
 * so the message keeps the width (the page puts the whole id in the line's title).
 */
export function entryLine(entry: TailEntry): string {
  if (entry.kind === 'gap') return entry.text;
  // A Date holds ±8.64e15 ms: toISOString throws past it.
  const at =
    entry.ts !== undefined && Math.abs(entry.ts) <= 8.64e15
      ? new Date(entry.ts).toISOString().slice(11, 23)
      : '';
  const inv = entry.invocationId ? `…${entry.invocationId.slice(-6)}` : '';
  return [at, inv, entry.text].filter(Boolean).join(' ');
}

function entryOf(type: 'start' | 'log' | 'end', event: Record<string, unknown>, id: string): TailEntry {
  const base = {
    ...(id ? { id } : {}),
    kind: type,
    ...(typeof event.ts === 'number' ? { ts: event.ts } : {}),
    ...(typeof event.invocationId === 'string' ? { invocationId: event.invocationId } : {}),
  };
  if (type === 'start') {
    const attempt =
      typeof event.attempt === 'number' && event.attempt > 1 ? `, attempt ${event.attempt}` : '';
    return {
      ...base,
      text: `▶ start v${field(event, 'version')} (${field(event, 'mode')}, ${field(event, 'trigger')}${attempt})`,
      bad: false,
    };
  }
  if (type === 'log') {
    const level = field(event, 'level');
    return { ...base, text: `${level}\t${field(event, 'message')}`, bad: level === 'error' };
  }
  const status = field(event, 'status');
  const took = typeof event.durationMs === 'number' ? ` in ${ms(event.durationMs)}` : '';
  const error = event.error as { type?: unknown; message?: unknown } | undefined;
  const why = error && typeof error === 'object' ? ` — ${text(error.type)}: ${text(error.message)}` : '';
  return { ...base, text: `■ end ${status}${took}${why}`, bad: status !== 'succeeded' };
}

function keep(entries: TailEntry[]): TailEntry[] {
  return entries.length > TAIL_KEEP ? entries.slice(-TAIL_KEEP) : entries;
}

/** Whether id `a` comes after `b`; ids of different epochs, or unreadable ones, always do. */
function isAfter(a: string, b: string): boolean {
  const x = parseId(a);
  const y = parseId(b);
  if (!x || !y || x.epoch !== y.epoch) return true;
  return x.entry > y.entry || (x.entry === y.entry && x.index > y.index);
}

function parseId(id: string): { epoch: string; entry: number; index: number } | undefined {
  const m = /^([0-9a-f]+)\.(\d{1,15})\.(\d{1,9})$/.exec(id);
  return m ? { epoch: m[1] as string, entry: Number(m[2]), index: Number(m[3]) } : undefined;
}

function parse(data: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(data);
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function field(event: Record<string, unknown> | undefined, name: string): string {
  return text(event?.[name]);
}

/** Any JSON value as text, never throwing (String() of `{ toString: 1 }` would). */
function text(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'object') return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return '';
  }
}
