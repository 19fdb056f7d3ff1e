import { execFileSync } from 'node:child_process';
import type { LoadResult, LoadTarget } from './load-result.ts';

const CHILD = new URL('./node-loadgen-child.ts', import.meta.url).pathname;

export function runNodeLoad(target: LoadTarget, connections: number, durationS: number): LoadResult {
  const output = execFileSync(
    process.execPath,
    [CHILD, JSON.stringify(target), String(connections), String(durationS)],
    {
      encoding: 'utf8',
      timeout: (durationS + 30) * 1000,
    },
  );
  return JSON.parse(output.trim().split('\n').at(-1) ?? '{}') as LoadResult;
}
