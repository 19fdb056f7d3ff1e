// Section 2: isolate cold start — the first invoke of each of N freshly deployed JS functions.
// Only that first request's round trip is timed (deploy is not), plus the server's X-Duration-Ms,
// and what it added over a warm call of the same function right after (the third call: the
// second may still meet the first's aftermath, such as its code cache being written).
import { deploy, timedInvoke } from './lib/faas-api.ts';
import type { FaasServer } from './lib/processes.ts';
import type { Metric } from './lib/report.ts';
import { ms, percentile } from './lib/stats.ts';

export async function measureColdStart(
  server: FaasServer,
  count: number,
  log: (line: string) => void,
): Promise<Metric[]> {
  const roundTrips: number[] = [];
  const serverSide: number[] = [];
  const added: number[] = [];
  for (let i = 0; i < count; i++) {
    const name = `bench-cold-${i}`;
    // Distinct code per function, so no compiled artifact can be shared between them.
    await deploy(server, {
      name,
      runtime: 'js',
      code: `export default (e) => ({ ok: true, n: e.n, i: ${i} })`,
    });
    const timed = await timedInvoke(server, name, { n: i });
    roundTrips.push(timed.roundTripMs);
    serverSide.push(timed.serverMs);
    await timedInvoke(server, name, { n: i });
    added.push(timed.roundTripMs - (await timedInvoke(server, name, { n: i })).roundTripMs);
  }
  log(
    `  first invoke (${count} functions): p50 ${ms(percentile(roundTrips, 50))}  p99 ${ms(percentile(roundTrips, 99))}`,
  );
  log(
    `  server X-Duration-Ms:           p50 ${ms(percentile(serverSide, 50))}  p99 ${ms(percentile(serverSide, 99))}`,
  );
  log(`  added over a warm call:         p50 ${ms(percentile(added, 50))}  p99 ${ms(percentile(added, 99))}`);
  const section = 'isolate cold start';
  return [
    {
      section,
      metric: `js first invoke p50 (n=${count})`,
      unit: 'ms',
      faas: percentile(roundTrips, 50),
      target: { op: '<=', value: 10, of: 'faas' },
    },
    { section, metric: `js first invoke p99 (n=${count})`, unit: 'ms', faas: percentile(roundTrips, 99) },
    {
      section,
      metric: 'js first invoke added over a warm call p50',
      unit: 'ms',
      faas: percentile(added, 50),
      target: { op: '<=', value: 3, of: 'faas' },
    },
    { section, metric: 'js first invoke X-Duration-Ms p50', unit: 'ms', faas: percentile(serverSide, 50) },
    { section, metric: 'js first invoke X-Duration-Ms p99', unit: 'ms', faas: percentile(serverSide, 99) },
  ];
}
