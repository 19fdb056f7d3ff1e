// Section 9 (when BENCH_BEFORE_REF is set): section 1's warm js invoke on this tree and on an
// earlier commit, side by side in one run, alternately, so a busy moment of the shared machine
// hits both alike. It answers "what did this change cost the hot path" (auth and rate limits:
// at most 5%; tracing while off: at most 2%) with a ratio rather than two figures from two days.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeLoad, invokeTarget } from './lib/compare.ts';
import { deploy } from './lib/faas-api.ts';
import type { LoadRunner } from './lib/load.ts';
import type { LoadResult } from './lib/load-result.ts';
import { type FaasServer, ROOT, startFaasServer } from './lib/processes.ts';
import type { Metric } from './lib/report.ts';

const CODE = 'export default (e) => ({ ok: true, n: e.n })';
const EVENT = JSON.stringify({ n: 1 });
const CONNECTIONS = 32;

export interface BeforeAfterOptions {
  /** A commit, tag or branch of this repository. */
  ref: string;
  /** Another commit in place of this tree: to measure one change of the past on its own. */
  afterRef?: string;
  /** The largest cost accepted, in percent of throughput (the target line). */
  maxCostPercent: number;
  load: LoadRunner;
  durationS: number;
  warmupS: number;
  rounds: number;
  log: (line: string) => void;
}

/**
 * The tree of `ref` in a temporary folder, run with this checkout's dependencies: each package
 * of node_modules linked, but the workspace's own packages (@faas/*) pointing at the old tree.
 * A dependency the old tree needs and this one dropped fails its start, with node's message.
 */
export function checkOut(ref: string): { root: string; commit: string; remove: () => void } {
  const commit = execFileSync('git', ['rev-parse', '--verify', `${ref}^{commit}`], { cwd: ROOT })
    .toString()
    .trim();
  const root = mkdtempSync(join(tmpdir(), 'faas-bench-before-'));
  const archive = execFileSync('git', ['archive', '--format=tar', commit], {
    cwd: ROOT,
    maxBuffer: 1 << 30,
  });
  execFileSync('tar', ['-x', '-C', root], { input: archive });
  const modules = join(root, 'node_modules');
  mkdirSync(join(modules, '@faas'), { recursive: true });
  for (const entry of readdirSync(join(ROOT, 'node_modules'))) {
    if (entry === '@faas' || entry === '.bin') continue;
    symlinkSync(join(ROOT, 'node_modules', entry), join(modules, entry));
  }
  for (const pkg of readdirSync(join(root, 'packages'))) {
    symlinkSync(join(root, 'packages', pkg), join(modules, '@faas', pkg));
  }
  return { root, commit, remove: () => rmSync(root, { recursive: true, force: true }) };
}

const target = (server: FaasServer) => invokeTarget(server, 'bench-before', EVENT);

export async function measureBeforeAfter(opts: BeforeAfterOptions): Promise<Metric[]> {
  const { load, durationS, warmupS, log } = opts;
  const tree = checkOut(opts.ref);
  const afterTree = opts.afterRef === undefined ? undefined : checkOut(opts.afterRef);
  const afterName = afterTree ? `${opts.afterRef} (${afterTree.commit.slice(0, 12)})` : 'this tree';
  log(`  before: ${opts.ref} (${tree.commit.slice(0, 12)}); after: ${afterName}`);
  try {
    // Only the settings every version of the server knows: an older one refuses unknown FAAS_*.
    const before = await startFaasServer({}, { root: tree.root, minimal: true });
    try {
      const after = await startFaasServer({}, { root: afterTree?.root, minimal: true });
      try {
        const servers = { before, after };
        for (const server of Object.values(servers))
          await deploy(server, { name: 'bench-before', runtime: 'js', code: CODE });
        const results: Record<keyof typeof servers, LoadResult[]> = { before: [], after: [] };
        for (let round = 0; round < opts.rounds; round++) {
          // Alternate which goes first: the second of a pair meets a warmer machine.
          const order = round % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const);
          for (const name of order) {
            load(target(servers[name]), CONNECTIONS, warmupS);
            const r = load(target(servers[name]), CONNECTIONS, durationS);
            log(`  ${name.padEnd(6)} c=${CONNECTIONS}: ${describeLoad(r)}`);
            if (r.errors > 0) {
              throw new Error(
                `the ${name} server answered ${r.errors} requests with errors; its output:\n${servers[name].output()}`,
              );
            }
            results[name].push(r);
          }
        }
        const mean = (rs: LoadResult[], pick: (r: LoadResult) => number) =>
          rs.reduce((s, r) => s + pick(r), 0) / rs.length;
        const b = results.before;
        const a = results.after;
        const ratio = mean(a, (r) => r.requestsPerSec) / mean(b, (r) => r.requestsPerSec);
        log(`  after / before throughput: ${ratio.toFixed(3)} (cost ${((1 - ratio) * 100).toFixed(1)}%)`);
        const section = `before/after: ${opts.ref} → ${opts.afterRef ?? 'this tree'}`;
        const baseline = `baseline: ${tree.commit.slice(0, 12)}`;
        return [
          {
            section,
            metric: `js warm c=${CONNECTIONS} throughput, ${afterName} (${baseline})`,
            unit: 'req/s',
            faas: mean(a, (r) => r.requestsPerSec),
            baseline: mean(b, (r) => r.requestsPerSec),
            ratio,
            target: { op: '>=', value: 1 - opts.maxCostPercent / 100, of: 'ratio' },
          },
          {
            section,
            metric: `js warm c=${CONNECTIONS} p50, ${afterName} (${baseline})`,
            unit: 'ms',
            faas: mean(a, (r) => r.p50Ms),
            baseline: mean(b, (r) => r.p50Ms),
          },
          {
            section,
            metric: `js warm c=${CONNECTIONS} p99, ${afterName} (${baseline})`,
            unit: 'ms',
            faas: mean(a, (r) => r.p99Ms),
            baseline: mean(b, (r) => r.p99Ms),
          },
        ];
      } finally {
        await after.stop();
      }
    } finally {
      await before.stop();
    }
  } finally {
    tree.remove();
    afterTree?.remove();
  }
}
