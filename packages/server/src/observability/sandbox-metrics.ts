import type { InstanceView } from '@faas/core';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Seconds: a file snapshot of a small workspace takes well under a second, a memory one seconds. */
const SNAPSHOT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

const INSTANCE_STATES: readonly InstanceView['status'][] = [
  'starting',
  'running',
  'checkpointing',
  'stopping',
  'stopped',
  'failed',
  'deleted',
];

export type SnapshotKind = 'memory' | 'filesystem';

/** What the instance gauge reads at scrape time: every project's instances. */
export type InstanceStates = () => Promise<readonly { state: InstanceView['status'] }[]>;

/**
 * The execute API's and instances' metrics: runs by mode, cache lookups, instances by state,
 * snapshot and restore durations. Off the invoke path: prom-client's own counters serve.
 */
export class SandboxMetrics {
  #runs: Counter<'mode'>;
  #cache: Counter<'result'>;
  #snapshots: Histogram<'kind'>;
  #restores: Histogram<'kind'>;

  constructor(registry: Registry, instanceStates: InstanceStates) {
    const registers = [registry];
    this.#runs = new Counter({
      name: 'faas_execute_runs_total',
      help: 'Execute API runs answered, by mode (ephemeral, cached, checkpointed, branched, persistent)',
      labelNames: ['mode'],
      registers,
    });
    this.#cache = new Counter({
      name: 'faas_execute_cache_lookups_total',
      help: 'Lookups of cached-mode runs in the result cache, by result: hit or miss',
      labelNames: ['result'],
      registers,
    });
    this.#snapshots = new Histogram({
      name: 'faas_snapshot_duration_seconds',
      help: 'Time to take a snapshot of an instance and store it, by kind: memory or filesystem',
      labelNames: ['kind'],
      buckets: SNAPSHOT_BUCKETS,
      registers,
    });
    this.#restores = new Histogram({
      name: 'faas_restore_duration_seconds',
      help: 'Time to restore instances from a snapshot (a fork of several counts once), by kind',
      labelNames: ['kind'],
      buckets: SNAPSHOT_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'faas_instances',
      help: 'Instances (sandboxes of the instances and execute APIs) on this node, by state',
      labelNames: ['state'],
      registers,
      async collect() {
        const counts = new Map(INSTANCE_STATES.map((s) => [s, 0]));
        // No container runtime: no instances (the gauge reads 0, it does not fail the scrape).
        const instances = await instanceStates().catch(() => []);
        for (const { state } of instances) counts.set(state, (counts.get(state) ?? 0) + 1);
        for (const [state, count] of counts) this.set({ state }, count);
      },
    });
  }

  executed(mode: string): void {
    this.#runs.inc({ mode });
  }

  cacheLookup(hit: boolean): void {
    this.#cache.inc({ result: hit ? 'hit' : 'miss' });
  }

  snapshotTaken(kind: SnapshotKind, seconds: number): void {
    this.#snapshots.observe({ kind }, seconds);
  }

  restored(kind: SnapshotKind, seconds: number): void {
    this.#restores.observe({ kind }, seconds);
  }
}
