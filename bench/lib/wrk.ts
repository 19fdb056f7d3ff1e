// wrk as the load generator: C, event-driven, so the generator costs the machine less than a
// Node one would. Installed from Debian when missing (root only); null means "use the fallback".
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadResult, LoadTarget } from './load-result.ts';

function hasWrk(): boolean {
  return spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;
}

/** True when wrk is on PATH, after trying `apt-get install -y wrk` as root. */
export function ensureWrk(log: (line: string) => void): boolean {
  if (hasWrk()) return true;
  if (process.env.BENCH_NO_INSTALL === '1' || process.getuid?.() !== 0) return false;
  log('wrk not found: apt-get install -y wrk …');
  try {
    execFileSync('apt-get', ['install', '-y', '-q', 'wrk'], { stdio: 'ignore', timeout: 120_000 });
  } catch {
    return false;
  }
  return hasWrk();
}

const luaString = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

function luaScript(target: LoadTarget): string {
  const lines = ['wrk.method = "POST"', `wrk.body = ${luaString(target.body)}`];
  for (const [name, value] of Object.entries(target.headers))
    lines.push(`wrk.headers[${luaString(name)}] = ${luaString(value)}`);
  return `${lines.join('\n')}\n`;
}

/** "1.23ms", "456.00us", "1.20s" → milliseconds. */
function parseDuration(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!match) return Number.NaN;
  const value = Number(match[1]);
  const unit = match[2];
  return unit === 'us' ? value / 1000 : unit === 'ms' ? value : unit === 's' ? value * 1000 : value * 60_000;
}

export function parseWrkOutput(output: string, connections: number, durationS: number): LoadResult {
  const latency = (p: string) =>
    parseDuration(new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(output)?.[1] ?? '');
  const requests = Number(/(\d+) requests in/.exec(output)?.[1] ?? Number.NaN);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const errors = non2xx + (socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0);
  return {
    generator: 'wrk',
    connections,
    durationS,
    requests,
    errors,
    requestsPerSec: Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? Number.NaN),
    p50Ms: latency('50'),
    p99Ms: latency('99'),
  };
}

export function runWrk(target: LoadTarget, connections: number, durationS: number): LoadResult {
  const dir = mkdtempSync(join(tmpdir(), 'faas-bench-wrk-'));
  try {
    const script = join(dir, 'post.lua');
    writeFileSync(script, luaScript(target));
    // One thread: on a 2-core machine a second one takes CPU from the server under test, and one
    // drives over 90k req/s here, more than any target needs; both sides get the same generator.
    const threads = '1';
    const output = execFileSync(
      'wrk',
      [
        '-t',
        threads,
        '-c',
        String(connections),
        '-d',
        `${durationS}s`,
        '--timeout',
        '5s',
        '--latency',
        '-s',
        script,
        target.url,
      ],
      { encoding: 'utf8', timeout: (durationS + 30) * 1000 },
    );
    return parseWrkOutput(output, connections, durationS);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
