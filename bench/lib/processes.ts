import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVER_NODE_FLAGS } from '../../packages/server/src/node-flags.ts';
import { serveArgs } from '../../test/support/serve-args.ts';

export const ROOT = new URL('../../', import.meta.url).pathname;

export interface Spawned {
  url: string;
  pid: number;
  stop(): Promise<void>;
  /** What it printed last (stderr, and stdout up to "listening"): to tell why it answered errors. */
  output(): string;
}

/** Spawns a process and resolves once it prints "listening on http://…". */
function spawnListening(
  args: string[],
  env: Record<string, string>,
  onStop: () => void = () => {},
  cwd = ROOT,
): Promise<Spawned> {
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args[0]} did not start in 60 s:\n${output}`));
    }, 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (!match?.[1]) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      // Keep draining so a chatty child never blocks on a full pipe.
      child.stdout?.resume();
      resolve({
        url: match[1],
        pid: child.pid as number,
        output: () => output.slice(-4_000),
        stop: () =>
          new Promise<void>((done) => {
            const finish = () => {
              onStop();
              done();
            };
            if (child.exitCode !== null || child.signalCode !== null) return finish();
            const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
            child.once('exit', () => {
              clearTimeout(force);
              finish();
            });
            child.kill('SIGTERM');
          }),
      });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.length > 100_000) output = output.slice(-50_000);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args[0]} exited with ${code}:\n${output}`));
    });
  });
}

export interface FaasServer extends Spawned {
  adminKey: string;
}

/**
 * The faas server as its own process, in a fresh data dir that is removed on stop; `env` adds
 * settings (FAAS_DATABASE_URL for the PostgreSQL store, FAAS_QUEUE_URL for the Redis queue).
 * `root`: another checkout's server (see before-after.ts); `minimal`: no setting but the admin
 * key, which every version knows (FAAS_LOG_LEVEL came later, and unknown FAAS_* are refused).
 */
export async function startFaasServer(
  env: Record<string, string> = {},
  options: { root?: string; minimal?: boolean } = {},
): Promise<FaasServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'faas-bench-'));
  const adminKey = `faas_bench_${randomBytes(16).toString('hex')}`;
  const server = await spawnListening(
    [...SERVER_NODE_FLAGS, ...serveArgs('packages/server/src/main.ts', dataDir)],
    { FAAS_ADMIN_KEY: adminKey, ...(options.minimal ? {} : { FAAS_LOG_LEVEL: 'warn' }), ...env },
    () => rmSync(dataDir, { recursive: true, force: true }),
    options.root,
  );
  return { ...server, adminKey };
}

export function startBaselineServer(): Promise<Spawned> {
  return spawnListening(['bench/baseline-server.ts'], {});
}

/** A plain pass-through to `target` (bench/baseline-proxy.ts): the floor of an extra hop. */
export function startBaselineProxy(target: string): Promise<Spawned> {
  return spawnListening(['bench/baseline-proxy.ts'], { BENCH_PROXY_TARGET: target });
}

/** A stand-in OTLP/HTTP collector (bench/otlp-sink.ts) that takes and counts spans. */
export function startOtlpSink(): Promise<Spawned> {
  return spawnListening(['bench/otlp-sink.ts'], {});
}

/** The same plain server in `workers` processes sharing the port (node:cluster). */
export function startBaselineCluster(workers: number): Promise<Spawned> {
  return spawnListening(['bench/baseline-cluster.ts'], { BENCH_CLUSTER_WORKERS: String(workers) });
}

/**
 * Memory of a process and all its descendants (isolate hosts, sandboxes' shims), in MB:
 * - `rss`: their VmRSS added up, which counts a binary's resident pages once per process
 *   running it (node's ~57 MB in the server and in each isolate host);
 * - `resident`: what they hold of the machine's memory: their own pages (anonymous and shared
 *   memory) added up, and the pages of files they map counted once per executable (the largest
 *   of its processes'), since the kernel keeps one copy of a binary however many run it.
 */
export function treeMemoryMb(pid: number): { rss: number; resident: number } {
  let rssKb = 0;
  let ownKb = 0;
  const fileKbByExe = new Map<string, number>();
  const field = (status: string, name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  const visit = (id: number) => {
    try {
      const status = readFileSync(`/proc/${id}/status`, 'utf8');
      const exe = readlinkSync(`/proc/${id}/exe`);
      rssKb += field(status, 'VmRSS');
      ownKb += field(status, 'RssAnon') + field(status, 'RssShmem');
      fileKbByExe.set(exe, Math.max(fileKbByExe.get(exe) ?? 0, field(status, 'RssFile')));
      for (const task of readdirSync(`/proc/${id}/task`)) {
        const children = readFileSync(`/proc/${id}/task/${task}/children`, 'utf8').trim();
        for (const child of children ? children.split(' ') : []) visit(Number(child));
      }
    } catch {
      // Exited meanwhile.
    }
  };
  visit(pid);
  let fileKb = 0;
  for (const kb of fileKbByExe.values()) fileKb += kb;
  return { rss: rssKb / 1024, resident: (ownKb + fileKb) / 1024 };
}
