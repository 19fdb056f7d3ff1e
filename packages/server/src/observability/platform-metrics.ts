import {
  ErrorCode,
  type FunctionRuntime,
  type Invocation,
  type InvocationError,
  MAX_PAGE_LIMIT,
  type MetadataStore,
  type Queue,
  type Runtime,
  rateLimitScopeOf,
} from '@faas/core';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { type HistogramSeries, HotCounter, HotHistogram, SeriesCache } from './hot-metrics.ts';

/** Seconds: from a warm isolate call (~50 µs) to the longest function timeout. */
const DURATION_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
];

const MISNAMED_DEFAULT_METRICS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** What the main thread reads at scrape time (gauges), besides what it counts as it happens. */
export interface PlatformMetricSources {
  queue: Pick<Queue, 'stats' | 'oldestDueAgeMs'>;
  runtimes: { readonly all: readonly Pick<Runtime, 'kind' | 'stats'>[] };
  /** The isolate hosts as the main thread reaches them: read afresh at each scrape. */
  isolateHosts?: {
    refreshStats(): Promise<unknown>;
    hostProcesses(): readonly { host: number; rssBytes: number; heapUsedBytes: number }[];
  };
  /** Running invocations per function, every gateway thread's (the shared slot table). */
  slots?: { running(functionName: string): number };
  /** The invocation recorder's counters. */
  recorder: { stats(): { pending: number; failedWrites: number } };
  leaseStats: () => { renewalFailures: number; leasesLost: number };
}

/** The fields of an invocation its metrics are labelled with: names, never ids (bounded sets). */
export interface ObservedInvocation {
  invocation: Pick<
    Invocation,
    'functionName' | 'trigger' | 'mode' | 'status' | 'durationMs' | 'error' | 'coldStart'
  >;
  runtime: FunctionRuntime | undefined;
}

/**
 * The main thread's metrics registry: invocations (every gateway thread's records reach the main
 * thread's recorder, and async attempts run here, so counting them here counts each once),
 * queue, runtimes, records and the process. HTTP requests are counted on each thread
 * (HttpMetrics) and merged in at scrape time (metrics-scrape.ts).
 */
export class PlatformMetrics {
  readonly registry = new Registry();
  #invocations: HotCounter;
  #duration: HotHistogram;
  #throttled: HotCounter;
  #coldStarts: HotCounter;
  /**
   * Functions with series (a finished invocation since start, or since `forget`): whose slots
   * `faas_concurrency_slots_in_use` reads, and whose series `forget` and `sweep` look for.
   */
  #functions = new Set<string>();
  /** Functions whose series appeared since the last sweep: not yet checked against the store. */
  #unchecked = new Set<string>();
  #checkAll = false;
  #sweeping: Promise<void> = Promise.resolve();
  #series: SeriesCache<{ count: { value: number }; time: HistogramSeries }>;
  #retries: Counter<'function'>;
  #deadLetters: Counter<'function'>;

  constructor(sources: PlatformMetricSources, options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.#invocations = new HotCounter({
      name: 'faas_invocations_total',
      help: 'Finished invocations (async: attempts), by outcome: succeeded, failed, timed_out, out_of_memory, rejected',
      registers,
    });
    this.#duration = new HotHistogram({
      name: 'faas_invocation_duration_seconds',
      help: 'Time a function ran, per attempt',
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#throttled = new HotCounter({
      name: 'faas_invocations_throttled_total',
      help: "Invocations refused with 429, by reason: max_concurrency (the function's maxConcurrency was in use past FAAS_CONCURRENCY_WAIT_MS), rate_limit_function, rate_limit_project, rate_limit_key, rate_limit_ip (a rate limit's bucket was empty)",
      registers,
    });
    this.#coldStarts = new HotCounter({
      name: 'faas_cold_starts_total',
      help: 'Invocations (async: attempts) that waited for a new isolate, container or process to be made for them',
      registers,
    });
    this.#retries = new Counter({
      name: 'faas_queue_retries_total',
      help: 'Failed async attempts that will be tried again',
      labelNames: ['function'],
      registers,
    });
    this.#deadLetters = new Counter({
      name: 'faas_queue_dead_letters_total',
      help: 'Async invocations dead-lettered after their last attempt failed',
      labelNames: ['function'],
      registers,
    });
    this.#series = new SeriesCache((fn, runtime, outcome, trigger, mode) => {
      const [f, r, o] = [String(fn), String(runtime), String(outcome)];
      const key = `${o} ${r} ${f}`;
      return {
        count: this.#invocations.series(`${key} ${trigger} ${mode}`, () => ({
          function: f,
          runtime: r,
          trigger: String(trigger),
          mode: String(mode),
          outcome: o,
        })),
        time: this.#duration.series(key, () => ({ function: f, runtime: r, outcome: o })),
      };
    });
    slotGauges(sources, registers, this.#functions);
    queueGauges(sources, registers);
    // One round trip to the hosts per scrape, shared by the gauges that read them.
    const refreshHosts = shared(() => sources.isolateHosts?.refreshStats() ?? Promise.resolve());
    runtimeGauges(sources, registers, refreshHosts);
    isolateHostGauges(sources, registers, refreshHosts);
    recorderGauges(sources, registers);
    if (options.processMetrics !== false) {
      collectDefaultMetrics({ register: this.registry });
      // Gauges named like counters (Prometheus' lint refuses them); `nodejs_active_*` by type stay.
      for (const name of MISNAMED_DEFAULT_METRICS) this.registry.removeSingleMetric(name);
    }
  }

  /** A finished sync invocation or async attempt (recorded or turned away). */
  observeInvocation({ invocation, runtime }: ObservedInvocation): void {
    const runs = invocation.durationMs !== undefined;
    // A call turned away before it ran is recorded as failed with no duration.
    const outcome = runs ? invocation.status : 'rejected';
    const series = this.#series.get(
      invocation.functionName,
      runtime ?? 'unknown',
      outcome,
      invocation.trigger,
      invocation.mode,
    );
    series.count.value++;
    if (runs) this.#duration.observeSeries(series.time, (invocation.durationMs as number) / 1000);
    if (invocation.coldStart === true) {
      const r = runtime ?? 'unknown';
      this.#coldStarts.inc(`${r} ${invocation.functionName}`, () => ({
        function: invocation.functionName,
        runtime: r,
      }));
    }
    const reason = throttleReason(invocation.error);
    if (reason)
      this.#throttled.inc(`${reason} ${invocation.functionName}`, () => ({
        function: invocation.functionName,
        reason,
      }));
    this.#seen(invocation.functionName);
  }

  /** An async attempt failed: retried, or dead-lettered. */
  observeAsyncFailure(functionName: string, next: 'retrying' | 'dead_lettered'): void {
    if (next === 'retrying') this.#retries.inc({ function: functionName });
    else this.#deadLetters.inc({ function: functionName });
    this.#seen(functionName);
  }

  /**
   * The function was deleted: every series labelled with it goes (a function made again under
   * its name counts from 0, which Prometheus reads as a counter reset). Without this, a loop of
   * create, invoke, delete grew the scrape and this thread's memory for ever.
   */
  forget(functionName: string): void {
    const ofIt = (labels: Record<string, string>) => labels.function === functionName;
    this.#series.delete(functionName);
    this.#invocations.deleteWhere(ofIt);
    this.#duration.deleteWhere(ofIt);
    this.#throttled.deleteWhere(ofIt);
    this.#coldStarts.deleteWhere(ofIt);
    this.#retries.remove({ function: functionName });
    this.#deadLetters.remove({ function: functionName });
    this.#functions.delete(functionName);
    this.#unchecked.delete(functionName);
  }

  /** Another process changed the functions, maybe deleted some: the next sweep checks them all. */
  checkAll(): void {
    this.#checkAll = true;
  }

  /**
   * Forgets the functions the store no longer has, among those with series that appeared since
   * the last sweep (every one after `checkAll`). It catches what `forget` alone cannot: a delete
   * made by another node, and a series an invocation brought back after `forget` (one that was
   * under way when its function was deleted, or an async attempt of it): such a series lives
   * until the next sweep, so they stay bounded by the invocations under way at each delete.
   * A function made again between the store's answer and the forget loses the counts it had
   * then (a counter reset, once). Sweeps run one after another.
   */
  sweep(store: Pick<MetadataStore, 'listFunctions'>): Promise<void> {
    const run = async () => {
      const all = this.#checkAll;
      const names = [...(all ? this.#functions : this.#unchecked)];
      this.#checkAll = false;
      this.#unchecked.clear();
      try {
        const live = await existing(store, names);
        for (const name of names) if (!live.has(name)) this.forget(name);
      } catch (err) {
        // Checked again by the next sweep.
        if (all) this.#checkAll = true;
        for (const name of names) if (this.#functions.has(name)) this.#unchecked.add(name);
        throw err;
      }
    };
    const next = this.#sweeping.then(run, run);
    this.#sweeping = next.catch(() => undefined);
    return next;
  }

  #seen(functionName: string): void {
    if (this.#functions.has(functionName)) return;
    this.#functions.add(functionName);
    this.#unchecked.add(functionName);
  }
}

/** Which of `names` (stored names) are functions in the store now. */
async function existing(store: Pick<MetadataStore, 'listFunctions'>, names: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  // A chunk no longer than a page: one query each.
  for (let i = 0; i < names.length; i += MAX_PAGE_LIMIT) {
    const chunk = names.slice(i, i + MAX_PAGE_LIMIT);
    const page = await store.listFunctions({ limit: MAX_PAGE_LIMIT }, undefined, chunk);
    for (const fn of page.items) found.add(fn.name);
  }
  return found;
}

/** Why a refused invocation was throttled; undefined: it was not. */
function throttleReason(error: InvocationError | undefined): string | undefined {
  if (error?.type === ErrorCode.TOO_MANY_REQUESTS) return 'max_concurrency';
  if (error?.type !== ErrorCode.RATE_LIMITED) return undefined;
  return `rate_limit_${rateLimitScopeOf(error.message) ?? 'unknown'}`;
}

function slotGauges(sources: PlatformMetricSources, registers: Registry[], functions: Set<string>): void {
  const slots = sources.slots;
  if (!slots) return;
  new Gauge({
    name: 'faas_concurrency_slots_in_use',
    help: 'Invocations running now per function (its maxConcurrency slots taken), on every gateway thread',
    labelNames: ['function'],
    registers,
    collect() {
      this.reset();
      for (const name of functions) this.set({ function: name }, slots.running(name));
    },
  });
}

function queueGauges(sources: PlatformMetricSources, registers: Registry[]): void {
  new Gauge({
    name: 'faas_queue_jobs',
    help: 'Async jobs by state: ready (due), delayed (backing off or scheduled), leased (running), dead_lettered',
    labelNames: ['state'],
    registers,
    async collect() {
      const s = await sources.queue.stats();
      this.set({ state: 'ready' }, s.ready - s.delayed);
      this.set({ state: 'delayed' }, s.delayed);
      this.set({ state: 'leased' }, s.leased);
      this.set({ state: 'dead_lettered' }, s.deadLettered);
    },
  });
  new Gauge({
    name: 'faas_queue_oldest_job_age_seconds',
    help: 'How long the async job due the longest has waited for a consumer since it became due; 0: none is due',
    registers,
    async collect() {
      this.set(((await sources.queue.oldestDueAgeMs()) ?? 0) / 1000);
    },
  });
  countedElsewhere(
    'faas_queue_lease_renewal_failures_total',
    'Lease renewals of held async jobs that failed',
    registers,
    () => sources.leaseStats().renewalFailures,
  );
  countedElsewhere(
    'faas_queue_leases_lost_total',
    'Leases of async jobs lost while their attempt ran',
    registers,
    () => sources.leaseStats().leasesLost,
  );
}

function runtimeGauges(
  sources: PlatformMetricSources,
  registers: Registry[],
  refreshHosts: () => Promise<unknown>,
): void {
  new Gauge({
    name: 'faas_warm_instances',
    help: 'Warm instances (isolates, containers) by runtime and state: idle or busy',
    labelNames: ['runtime', 'state'],
    registers,
    async collect() {
      // The hosts' isolates are counted in the hosts: asked now, not as last read.
      await refreshHosts();
      this.reset();
      for (const runtime of sources.runtimes.all) {
        const s = runtime.stats();
        this.set({ runtime: runtime.kind, state: 'busy' }, s.busy);
        this.set({ runtime: runtime.kind, state: 'idle' }, Math.max(0, s.warm - s.busy));
      }
    },
  });
}

function isolateHostGauges(
  sources: PlatformMetricSources,
  registers: Registry[],
  refreshHosts: () => Promise<unknown>,
): void {
  const hosts = sources.isolateHosts;
  if (!hosts) return;
  new Gauge({
    name: 'faas_isolate_host_resident_memory_bytes',
    help: 'Resident memory of each isolate host process (its isolates included), by host index',
    labelNames: ['host'],
    registers,
    async collect() {
      await refreshHosts();
      this.reset();
      for (const p of hosts.hostProcesses()) this.set({ host: String(p.host) }, p.rssBytes);
    },
  });
  new Gauge({
    name: 'faas_isolate_host_heap_used_bytes',
    help: "Used V8 heap of each isolate host process's own thread (not its isolates'), by host index",
    labelNames: ['host'],
    registers,
    async collect() {
      await refreshHosts();
      this.reset();
      for (const p of hosts.hostProcesses()) this.set({ host: String(p.host) }, p.heapUsedBytes);
    },
  });
}

function recorderGauges(sources: PlatformMetricSources, registers: Registry[]): void {
  new Gauge({
    name: 'faas_invocation_records_pending',
    help: 'Sync invocation records not yet written to the store',
    registers,
    collect() {
      this.set(sources.recorder.stats().pending);
    },
  });
  countedElsewhere(
    'faas_invocation_record_write_failures_total',
    'Writes of invocation records that failed (each is tried again)',
    registers,
    () => sources.recorder.stats().failedWrites,
  );
}

/** A counter some other part keeps (since start): read at scrape time. */
function countedElsewhere(name: string, help: string, registers: Registry[], read: () => number): void {
  new Counter({
    name,
    help,
    registers,
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/** `run`, called again while a call is under way: that call's promise, not a second call. */
function shared(run: () => Promise<unknown>): () => Promise<unknown> {
  let running: Promise<unknown> | undefined;
  return () => {
    running ??= run().finally(() => {
      running = undefined;
    });
    return running;
  };
}
