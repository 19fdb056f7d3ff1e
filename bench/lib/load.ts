import type { LoadResult, LoadTarget } from './load-result.ts';
import { runNodeLoad } from './node-loadgen.ts';
import { ensureWrk, runWrk } from './wrk.ts';

export type LoadRunner = (target: LoadTarget, connections: number, durationS: number) => LoadResult;

/** wrk when it is (or can be made) available, else the Node generator; BENCH_LOADGEN=node forces it. */
export function pickLoadRunner(log: (line: string) => void): { name: 'wrk' | 'node'; run: LoadRunner } {
  if (process.env.BENCH_LOADGEN !== 'node' && ensureWrk(log)) return { name: 'wrk', run: runWrk };
  return { name: 'node', run: runNodeLoad };
}
