import {
  DEFAULT_PROJECT,
  type FaasError,
  type FunctionRecord,
  isFaasError,
  type MetadataStore,
} from '@faas/core';
import { CronExpression } from './cron-expression.ts';
import type { InvocationService } from './invocation-service.ts';

/** What becomes of the ticks that passed while no server ran: the latest one runs, or none. */
export type MissedTicks = 'once' | 'skip';

export interface SchedulerOptions {
  store: Pick<MetadataStore, 'listFunctions' | 'routesRevision'>;
  invocations: Pick<InvocationService, 'invokeAsync'>;
  missed: MissedTicks;
  /**
   * How far back a missed tick may still run: no further than the invocation records are kept,
   * since a tick's record (its idempotency key) is what stops it from running twice.
   */
  catchUpMs: number;
  logger: { warn(message: string): void; error(message: string, err?: unknown): void };
  now?: () => number;
}

/** The event a scheduled invocation gets. */
export interface ScheduleEvent {
  type: 'schedule';
  schedule: string;
  /** The tick, ISO 8601 UTC: the time the schedule named, not when the run started. */
  scheduledAt: string;
}

interface Entry {
  name: string;
  project: string;
  expression: CronExpression;
  /** Ticks before the version that declared the schedule are not its. */
  sinceMs: number;
}

/** Functions are listed this many to a page when the schedules are loaded. */
const PAGE = 500;
/** The longest the timer sleeps, so a clock that jumped is noticed. */
const MAX_SLEEP_MS = 60_000;
/** More ticks than this since the last round is a sleep, not a late timer: only the latest runs. */
const MAX_TICKS_PER_ROUND = 60;
/**
 * A tick that could not be enqueued (the store was down) is tried again after this, then after
 * twice as long each time the ticks tried again fail again, up to MAX_RETRY_MS.
 */
const RETRY_MS = 1_000;
const MAX_RETRY_MS = 60_000;
/** At most this many ticks are tried again at once: a store that comes back is not stampeded. */
const MAX_RETRIES_PER_ROUND = 100;

/**
 * Starts the idempotency key of every tick: `schedule:<expression>@<tick>`. The gateway refuses
 * it from callers, who could otherwise take a tick's key before the scheduler does.
 */
export const SCHEDULE_KEY_PREFIX = 'schedule:';

/**
 * Runs functions' cron schedules: each tick is one async invocation, `trigger: "schedule"`, whose
 * idempotency key names the schedule and the tick. The key is the claim: however many times a
 * tick is fired (a restart that catches up, several servers on one store), the store keeps one
 * invocation for it and answers the others as duplicates.
 */
export class Scheduler {
  #o: SchedulerOptions;
  #now: () => number;
  #entries: Entry[] = [];
  #revision = -1;
  /** Ticks at or before this time have been fired. */
  #through = 0;
  /**
   * Ticks that failed to enqueue, oldest first, to try again while they are within the catch-up
   * window: each schedule's latest MAX_TICKS_PER_ROUND, as after a sleep.
   */
  #retries: Tick[] = [];
  /** When the ticks of #retries are tried again, and how long the wait after that is. */
  #retryAt = 0;
  #retryDelay = RETRY_MS;
  #timer: NodeJS.Timeout | undefined;
  #poll: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();
  #stopped = false;
  #failing = false;
  #startedAt = 0;

  constructor(options: SchedulerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Loads the schedules, fires the missed tick of each (`once`), and follows the store's changes. */
  async start(pollMs: number): Promise<void> {
    const now = this.#now();
    this.#startedAt = now;
    await this.#load();
    if (this.#o.missed === 'once') {
      const from = now - this.#o.catchUpMs;
      const due: Tick[] = [];
      for (const entry of this.#entries) {
        const tick = latestTick(entry.expression, Math.max(from, entry.sinceMs - 1), now);
        if (tick !== undefined) due.push({ entry, tick });
      }
      await this.#fireAll(due, false, now);
    }
    this.#through = now;
    this.#arm();
    this.#poll = setInterval(() => this.#serially(() => this.#reloadIfChanged()), pollMs);
    this.#poll.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#poll);
    await this.#running;
  }

  /** When it started: ticks before it that no scheduler ran are the missed ones. */
  get startedAt(): number {
    return this.#startedAt;
  }

  #serially(work: () => Promise<void>): void {
    this.#running = this.#running.then(async () => {
      if (this.#stopped) return;
      try {
        await work();
        if (this.#failing) this.#o.logger.warn('function schedules run again');
        this.#failing = false;
      } catch (err) {
        // Polled every second: a store that stays down is said once, not once a second.
        if (!this.#failing) this.#o.logger.error('running function schedules failed', err);
        this.#failing = true;
      }
    });
  }

  async #reloadIfChanged(): Promise<void> {
    if ((await this.#o.store.routesRevision()) === this.#revision) return;
    await this.#load();
    this.#arm();
  }

  async #load(): Promise<void> {
    const revision = await this.#o.store.routesRevision();
    // A schedule that a new version keeps is the same schedule: its ticks since the version
    // before are still its own.
    const known = new Map(this.#entries.map((e) => [entryKey(e), e]));
    const entries: Entry[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.#o.store.listFunctions({ limit: PAGE, ...(cursor ? { cursor } : {}) });
      for (const fn of page.items) {
        for (const entry of entriesOf(fn)) entries.push(known.get(entryKey(entry)) ?? entry);
      }
      cursor = page.nextCursor;
    } while (cursor);
    this.#entries = entries;
    this.#revision = revision;
  }

  #arm(): void {
    clearTimeout(this.#timer);
    if (this.#stopped) return;
    const now = this.#now();
    let next = this.#retries.length > 0 ? Math.max(now, this.#retryAt) : Number.POSITIVE_INFINITY;
    for (const entry of this.#entries) next = Math.min(next, entry.expression.nextAfter(now) ?? next);
    if (next === Number.POSITIVE_INFINITY) return;
    this.#timer = setTimeout(() => this.#serially(() => this.#fireDue()), Math.min(next - now, MAX_SLEEP_MS));
    this.#timer.unref();
  }

  /**
   * Fires each schedule's ticks since the last round: every one of them after a late timer (a
   * busy machine), but only the latest after a long sleep (a suspended process), as after a restart.
   */
  async #fireDue(): Promise<void> {
    const now = this.#now();
    const retrying = this.#retries.length > 0 && now >= this.#retryAt;
    const due: Tick[] = [];
    if (retrying) {
      this.#retries = this.#retries.filter((r) => r.tick >= now - this.#o.catchUpMs);
      due.push(...this.#retries.splice(0, MAX_RETRIES_PER_ROUND));
    }
    for (const entry of this.#entries) {
      const after = Math.max(this.#through, entry.sinceMs - 1);
      const ticks: number[] = [];
      for (
        let t = entry.expression.nextAfter(after);
        t !== undefined && t <= now;
        t = entry.expression.nextAfter(t)
      ) {
        if (ticks.push(t) > MAX_TICKS_PER_ROUND) break;
      }
      if (ticks.length > MAX_TICKS_PER_ROUND) {
        const latest = latestTick(entry.expression, after, now);
        if (latest !== undefined) due.push({ entry, tick: latest });
      } else {
        for (const tick of ticks) due.push({ entry, tick });
      }
    }
    this.#through = Math.max(this.#through, now);
    await this.#fireAll(due, retrying, now);
    this.#arm();
  }

  /**
   * Fires `due`, keeps the ticks that failed for later, and sets when they are tried: sooner when
   * a tick went through (the store is back), later when the ticks tried again failed again.
   */
  async #fireAll(due: Tick[], retrying: boolean, now: number): Promise<void> {
    const waiting = this.#retries.length > 0;
    const outcomes = await Promise.all(due.map((tick) => this.#fire(tick)));
    const failed = due.filter((_, i) => typeof outcomes[i] === 'object');
    if (outcomes.includes('enqueued')) this.#retryDelay = RETRY_MS;
    else if (retrying && failed.length > 0) this.#retryDelay = Math.min(this.#retryDelay * 2, MAX_RETRY_MS);
    if (!waiting || retrying || outcomes.includes('enqueued')) this.#retryAt = now + this.#retryDelay;
    if (failed.length === 0) return;
    for (const tick of failed) this.#retries.push(tick);
    this.#retries.sort((a, b) => a.tick - b.tick);
    this.#retries = latestPerEntry(this.#retries, MAX_TICKS_PER_ROUND);
    // Once when enqueueing starts failing, then once a round of retries: not once a tick.
    if (!waiting || retrying) {
      const first = failed[0] as Tick;
      this.#o.logger.error(
        `${failed.length} tick(s) of function schedules could not run, among them the ${new Date(first.tick).toISOString()} tick of schedule "${first.entry.expression.source}" of function ${first.entry.name}; ${this.#retries.length} waiting, trying again in ${Math.round(this.#retryDelay / 1000)} s`,
        (outcomes[due.indexOf(first)] as { error: unknown }).error,
      );
    }
  }

  /** 'enqueued' (or was already), 'done' (nothing to try again), or the error to try again after. */
  async #fire({ entry, tick }: Tick): Promise<'enqueued' | 'done' | { error: unknown }> {
    const scheduledAt = new Date(tick).toISOString();
    const event: ScheduleEvent = { type: 'schedule', schedule: entry.expression.source, scheduledAt };
    try {
      await this.#o.invocations.invokeAsync(
        entry.name,
        'latest',
        () => event,
        'schedule',
        `${SCHEDULE_KEY_PREFIX}${entry.expression.source}@${scheduledAt}`,
        entry.project,
      );
      return 'enqueued';
    } catch (err) {
      if (!isFaasError(err) || !isFinal(err)) return { error: err };
      // Deleted, or moved to another project, since the schedules were loaded: not a loss.
      if (err.code === 'FAAS_ERR_FUNCTION_NOT_FOUND') return 'done';
      // The tick's key was taken for another request (one made before keys starting `schedule:`
      // were refused), or the request is refused as such: asking again is refused again.
      this.#o.logger.error(
        `schedule "${entry.expression.source}" of function ${entry.name} cannot run its ${scheduledAt} tick; not trying again`,
        err,
      );
      return 'done';
    }
  }
}

interface Tick {
  entry: Entry;
  tick: number;
}

/** A refusal of the request itself (4xx), not of the moment (a full queue, a store down). */
function isFinal(err: FaasError): boolean {
  return err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429;
}

/** The latest `limit` ticks of each schedule in `ticks` (oldest first), in the same order. */
function latestPerEntry(ticks: Tick[], limit: number): Tick[] {
  const kept = new Map<Entry, number>();
  const latest: Tick[] = [];
  for (let i = ticks.length - 1; i >= 0; i--) {
    const t = ticks[i] as Tick;
    const n = kept.get(t.entry) ?? 0;
    if (n >= limit) continue;
    kept.set(t.entry, n + 1);
    latest.push(t);
  }
  return latest.reverse();
}

function entryKey(entry: Entry): string {
  return `${entry.project}\0${entry.name}\0${entry.expression.source}`;
}

function entriesOf(fn: FunctionRecord): Entry[] {
  const { schedules, project, createdAt, name } = fn.latest;
  if (!schedules) return [];
  const entries: Entry[] = [];
  for (const text of schedules) {
    try {
      entries.push({
        name,
        project: project ?? DEFAULT_PROJECT,
        expression: CronExpression.parse(text),
        sinceMs: Date.parse(createdAt),
      });
    } catch {
      // Checked at deploy: a stored schedule that no longer parses is skipped, not a crash.
    }
  }
  return entries;
}

/** Windows back from now in which the latest tick is looked for, smallest first. */
const LOOKBACK_MS = [60_000, 3_600_000, 86_400_000, 32 * 86_400_000, 400 * 86_400_000];

/**
 * The last tick in (afterMs, untilMs], if any, found in the smallest window back from `untilMs`
 * that has one: a schedule of every second, 30 days back, walks 60 ticks, not 2.6 million.
 */
function latestTick(expression: CronExpression, afterMs: number, untilMs: number): number | undefined {
  for (const span of [...LOOKBACK_MS, Number.POSITIVE_INFINITY]) {
    const from = Math.max(afterMs, untilMs - span);
    let latest: number | undefined;
    for (let t = expression.nextAfter(from); t !== undefined && t <= untilMs; t = expression.nextAfter(t)) {
      latest = t;
    }
    if (latest !== undefined || from === afterMs) return latest;
  }
  return undefined;
}
