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
  if (target.spread) lines.push(spreadScript(target));
  return `${lines.join('\n')}\n`;
}

/** A `request` function picking each path as `indexPicker` does (Lua indices start at 1). */
function spreadScript(target: LoadTarget): string {
  const { count, distribution } = target.spread as NonNullable<LoadTarget['spread']>;
  const path = new URL(target.url.replace('{i}', '__I__')).pathname;
  const [before = '', after = ''] = path.split('__I__');
  return [
    `local count, before, after = ${count}, ${luaString(before)}, ${luaString(after)}`,
    'local cdf = nil',
    `if ${luaString(distribution)} == "zipf" then`,
    '  cdf = {}; local sum = 0',
    '  for i = 1, count do sum = sum + 1 / i; cdf[i] = sum end',
    '  for i = 1, count do cdf[i] = cdf[i] / sum end',
    'end',
    'math.randomseed(os.time())',
    'request = function()',
    '  local i',
    '  if cdf then',
    '    local r, lo, hi = math.random(), 1, count',
    '    while lo < hi do local mid = math.floor((lo + hi) / 2); if cdf[mid] < r then lo = mid + 1 else hi = mid end end',
    '    i = lo - 1',
    '  else i = math.random(0, count - 1) end',
    '  return wrk.format(nil, before .. i .. after)',
    'end',
  ].join('\n');
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
        target.url.replace('{i}', '0'),
      ],
      { encoding: 'utf8', timeout: (durationS + 30) * 1000 },
    );
    return parseWrkOutput(output, connections, durationS);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
