import {
  ErrorCode,
  FaasError,
  type FunctionRuntime,
  type FunctionVersion,
  type InvokeOutcome,
  type InvokeRequest,
  type PrepareOptions,
  type Runtime,
  type RuntimeHealth,
  type RuntimeStats,
} from '@faas/core';
import { HostClient } from './host-client.ts';
import type { HostEndpoint } from './isolate-hosts.ts';

export interface RemoteIsolateRuntimeOptions {
  endpoints: readonly HostEndpoint[];
  maxFrameBytes: number;
  /** @see HostClientOptions.stuckGraceMs */
  stuckGraceMs: number;
  logger: Pick<Console, 'error' | 'warn'>;
}

/** One isolate host process's memory: `host` is its index (0 … FAAS_ISOLATE_HOSTS - 1). */
export interface HostProcessStats {
  host: number;
  rssBytes: number;
  heapUsedBytes: number;
}

/** How often the stats of the hosts are read for `stats()`, which must answer at once. */
const STATS_EVERY_MS = 1_000;
/** A host away for longer than this makes the runtime unhealthy (a crash loop, not a restart). */
const UNHEALTHY_AFTER_MS = 10_000;

/**
 * The isolate runtime as a serving thread sees it: `js`/`ts` functions run in the isolate host
 * processes, each function always in the same one (by a hash of its name), so its warm isolates
 * serve every thread of the server.
 */
export class RemoteIsolateRuntime implements Runtime {
  readonly kind = 'isolate' as const;
  #clients: HostClient[];
  #stats: RuntimeStats = { warm: 0, busy: 0, byVersion: {} };
  #hostProcesses: HostProcessStats[] = [];
  #statsTimer: NodeJS.Timeout | undefined;
  #awaySince: Array<number | undefined>;
  #closed = false;

  constructor(options: RemoteIsolateRuntimeOptions) {
    if (options.endpoints.length === 0) throw new Error('The isolate runtime needs at least one host');
    this.#clients = options.endpoints.map(
      (endpoint) =>
        new HostClient({
          socketPath: endpoint.socketPath,
          maxFrameBytes: options.maxFrameBytes,
          stuckGraceMs: options.stuckGraceMs,
          logger: options.logger,
        }),
    );
    this.#awaySince = this.#clients.map(() => undefined);
  }

  supports(runtime: FunctionRuntime): boolean {
    return runtime === 'js' || runtime === 'ts';
  }

  async health(): Promise<RuntimeHealth> {
    if (this.#closed) return { ready: false, reason: 'the isolate runtime is closed' };
    const now = Date.now();
    for (const [i, client] of this.#clients.entries()) {
      if (client.ready) {
        this.#awaySince[i] = undefined;
        continue;
      }
      const since = this.#awaySince[i] ?? now;
      this.#awaySince[i] = since;
      if (now - since > UNHEALTHY_AFTER_MS) {
        return {
          ready: false,
          reason: `isolate host ${i} has been down for ${Math.round((now - since) / 1000)} s`,
        };
      }
    }
    return { ready: true };
  }

  prepare(fn: FunctionVersion, options: PrepareOptions = {}): Promise<void> {
    return this.#clientFor(fn.name).prepare(fn, options.artifact);
  }

  invoke(request: InvokeRequest): Promise<InvokeOutcome> {
    if (this.#closed) {
      return Promise.reject(new FaasError(ErrorCode.RUNTIME_UNAVAILABLE, 'The isolate runtime is closed'));
    }
    return this.#clientFor(request.fn.name).invoke(request.fn, request);
  }

  async retire(name: string, version?: number): Promise<void> {
    this.#clientFor(name).retire(name, version);
  }

  /** The hosts' stats as last read (reading starts with the first call). */
  stats(): RuntimeStats {
    if (!this.#statsTimer && !this.#closed) {
      void this.refreshStats();
      this.#statsTimer = setInterval(() => void this.refreshStats(), STATS_EVERY_MS);
      this.#statsTimer.unref();
    }
    return this.#stats;
  }

  /** Reads every host's stats now (a scrape does, so it never shows the last second's). */
  async refreshStats(): Promise<RuntimeStats> {
    const all = await Promise.all(this.#clients.map((c) => c.stats()));
    const sum: RuntimeStats = { warm: 0, busy: 0, byVersion: {} };
    const processes: HostProcessStats[] = [];
    for (const [host, stats] of all.entries()) {
      if (!stats) continue;
      sum.warm += stats.warm;
      sum.busy += stats.busy;
      Object.assign(sum.byVersion, stats.byVersion);
      if (stats.process) processes.push({ host, ...stats.process });
    }
    this.#stats = sum;
    this.#hostProcesses = processes;
    return sum;
  }

  /** Each connected host's process memory, as last read by `refreshStats`. */
  hostProcesses(): readonly HostProcessStats[] {
    return this.#hostProcesses;
  }

  /** The pid of the host that runs a function (for tests and diagnostics). */
  hostPidFor(name: string): number | undefined {
    return this.#clientFor(name).hostPid;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#statsTimer);
    for (const client of this.#clients) client.close();
  }

  #clientFor(name: string): HostClient {
    return this.#clients[hostIndex(name, this.#clients.length)] as HostClient;
  }
}

/** FNV-1a of the name: every thread sends a function to the same host. */
export function hostIndex(name: string, hosts: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % hosts;
}
