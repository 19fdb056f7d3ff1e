import type { LogLine, LogSink } from '@faas/core';

const LOG_LEVELS: ReadonlySet<unknown> = new Set<LogLine['level']>(['debug', 'info', 'warn', 'error', 'log']);
/** Host timers one invocation may have pending (the prelude refuses past its own, equal limit). */
const MAX_PENDING_TIMERS = 10_000;
const encoder = new TextEncoder();

/** Invocation sequence numbers, unique in this process: they tag everything an isolate sends. */
let nextSeq = 1;

/**
 * The host's side of one running invocation: where its console output goes (capped at
 * `maxLogBytes`) and the Node timers standing in for its `setTimeout`s. Everything the isolate
 * sends names an invocation by `seq`; the isolate routes only matching messages here.
 */
export class ActiveInvocation {
  readonly seq = nextSeq++;
  readonly deadline: number;
  #log: LogSink;
  #maxLogBytes: number;
  #logBytes = 0;
  #truncated = false;
  #timers = new Set<NodeJS.Timeout>();
  #ended = false;
  /** Lines held back until `accept()`. */
  #held: Array<[LogLine['level'], string]> | undefined;

  /** `hold`: keep the output until `accept()`, for an attempt that may be run again (see WarmIsolate). */
  constructor(log: LogSink, deadline: number, maxLogBytes: number, options: { hold?: boolean } = {}) {
    this.#log = log;
    this.deadline = deadline;
    this.#maxLogBytes = maxLogBytes;
    if (options.hold) this.#held = [];
  }

  /** Writes the held output and stops holding. */
  accept(): void {
    const held = this.#held;
    this.#held = undefined;
    for (const [level, message] of held ?? []) this.#emit(level, message);
  }

  /** A console line from the isolate: untrusted arguments, checked. */
  log(level: unknown, message: unknown): void {
    if (this.#ended || this.#truncated || typeof message !== 'string' || !LOG_LEVELS.has(level)) return;
    const lineLevel = level as LogLine['level'];
    const max = this.#maxLogBytes;
    const bytes = Buffer.byteLength(message);
    if (this.#logBytes + bytes <= max) {
      this.#logBytes += bytes;
      this.#emit(lineLevel, message);
      return;
    }
    const room = max - this.#logBytes;
    if (room > 0) this.#emit(lineLevel, clipUtf8(message, room));
    this.#logBytes = max;
    this.#truncated = true;
    this.#emit('warn', `[faas] log output truncated: this invocation wrote more than ${max} bytes of logs`);
  }

  /** A `setTimeout` from the isolate: `fire` runs when it is due, unless the invocation ended. */
  schedule(delayMs: unknown, fire: () => void): void {
    if (this.#ended || typeof delayMs !== 'number' || this.#timers.size >= MAX_PENDING_TIMERS) return;
    // A timer due after the deadline can never run: the invocation is stopped first.
    if (Date.now() + delayMs >= this.deadline) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#ended) fire();
    }, delayMs);
    this.#timers.add(timer);
  }

  /** Drops pending timers and any output still on its way. */
  end(): void {
    this.#ended = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  #emit(level: LogLine['level'], message: string): void {
    if (this.#held) {
      this.#held.push([level, message]);
      return;
    }
    try {
      this.#log(level, message);
    } catch {
      // A sink must not throw; if one does, the function's run is not the place to fail.
    }
  }
}

/** Cuts text to at most `maxBytes` of UTF-8 without splitting a character. */
function clipUtf8(text: string, maxBytes: number): string {
  const { read } = encoder.encodeInto(text, new Uint8Array(maxBytes));
  return text.slice(0, read);
}
