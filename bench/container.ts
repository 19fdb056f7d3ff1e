import type { LoadRunner } from './lib/load.ts';
import type { FaasServer } from './lib/processes.ts';
import type { Metric } from './lib/report.ts';

export interface ContainerOptions {
  server: FaasServer;
  load: LoadRunner;
  durationS: number;
  warmupS: number;
  log: (line: string) => void;
}

export async function measureContainer(
  opts: ContainerOptions,
): Promise<{ metrics: Metric[]; notes: string[] }> {
  opts.log('  (not yet)');
  return { metrics: [], notes: [] };
}
