import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * What the container gauges read at scrape time (the container runtime's ContainerTally and
 * InstanceManager.restoresServed); undefined without a container runtime.
 */
export interface ContainerMetricSources {
  containers(): { entries(): Iterable<{ isolation: string; role: string; count: number }> } | undefined;
  restoresServed(): Readonly<{ standby: number; cold: number }> | undefined;
}

/**
 * The container runtime's containers by isolation and role, and where instance restores came
 * from (a paused standby or the checkpoint). Read from the runtime's own bookkeeping at scrape
 * time, not from the engine: a scrape never waits for Docker.
 */
export function registerContainerMetrics(registry: Registry, sources: ContainerMetricSources): void {
  const registers = [registry];
  new Gauge({
    name: 'faas_containers',
    help:
      'Containers this node holds, by OCI runtime (runc, gvisor) and role: spare, loading, idle, busy, ' +
      'sandbox_spare, sandbox_busy, instance, standby',
    labelNames: ['runtime', 'role'],
    registers,
    collect() {
      this.reset();
      for (const { isolation, role, count } of sources.containers()?.entries() ?? []) {
        this.set({ runtime: isolation, role }, count);
      }
    },
  });
  new Counter({
    name: 'faas_instance_restores_total',
    help: 'Instances restored from memory snapshots, by source: a paused standby, or cold from the checkpoint',
    labelNames: ['source'],
    registers,
    collect() {
      const served = sources.restoresServed() ?? { standby: 0, cold: 0 };
      this.reset();
      this.inc({ source: 'standby' }, served.standby);
      this.inc({ source: 'cold' }, served.cold);
    },
  });
}
