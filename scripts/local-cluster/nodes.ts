// The node processes of a local cluster: each `node main.ts serve` with its role, port, data dir
// and the shared settings, its output forwarded line by line behind its name, stopped by SIGTERM
// (the node drains, then exits) and killed only when it outlives the grace period.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const MAIN = new URL('../../packages/server/src/main.ts', import.meta.url).pathname;
/** The CLI's variables (README): the server refuses FAAS_* names it does not know. */
const CLI_ONLY = new Set(['FAAS_URL', 'FAAS_API_KEY']);

export interface NodeSpec {
  name: string;
  role: 'gateway' | 'worker';
  port: number;
}

export interface ClusterNode extends NodeSpec {
  url: string;
  child: ChildProcess;
  /** Whether the process said it listens on `url` (so /health answered is this node, not another). */
  listening(): boolean;
  /** Resolves when the process has exited, with how. */
  exited: Promise<string>;
}

/** A free TCP port on loopback (closed again: another process could take it first, rarely). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Starts one node; `shared` holds the settings every node has (backends, secrets). */
export function startNode(spec: NodeSpec, dir: string, shared: Record<string, string>): ClusterNode {
  const dataDir = join(dir, spec.name);
  mkdirSync(dataDir, { recursive: true });
  const url = `http://127.0.0.1:${spec.port}`;
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !CLI_ONLY.has(key)) env[key] = value;
  }
  Object.assign(env, shared, {
    FAAS_ROLE: spec.role,
    FAAS_HOST: '127.0.0.1',
    FAAS_PORT: String(spec.port),
    FAAS_ADVERTISE_URL: url,
    FAAS_DATA_DIR: dataDir,
    // A development machine runs four nodes: one thread and one isolate host each is plenty.
    FAAS_GATEWAY_THREADS: process.env.FAAS_GATEWAY_THREADS ?? '1',
    FAAS_ISOLATE_HOSTS: process.env.FAAS_ISOLATE_HOSTS ?? '1',
  });
  // A process group of its own: Ctrl-C in the terminal reaches this command only, which then sends
  // each node one SIGTERM (a node signalled twice would start its drain twice).
  const child = spawn(process.execPath, [MAIN, 'serve'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const label = `[${spec.name}]`;
  let listening = false;
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      if (line.startsWith(`faas listening on ${url} `)) listening = true;
      process.stdout.write(`${label} ${line}\n`);
    });
  }
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) =>
      resolve(signal ? `killed by ${signal}` : `exited with code ${code}`),
    );
  });
  return { ...spec, url, child, exited, listening: () => listening };
}

/** Waits until the node answers /health, or fails when it exits or `timeoutMs` passes. */
export async function waitHealthy(node: ClusterNode, timeoutMs: number): Promise<void> {
  let gone: string | undefined;
  void node.exited.then((how) => {
    gone = how;
  });
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (gone) throw new Error(`${node.name} ${gone} before it answered`);
    try {
      // Another server already on the port would answer too: only after this node said it listens.
      const res = node.listening()
        ? await fetch(`${node.url}/health`, { signal: AbortSignal.timeout(1000) })
        : undefined;
      if (res?.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${node.name} did not answer ${node.url}/health within ${timeoutMs} ms`);
}

/**
 * SIGTERM to every node still running (each drains, then exits), SIGKILL to any still there
 * after `graceMs`. Resolves when all have exited.
 */
export async function stopNodes(nodes: readonly ClusterNode[], graceMs: number): Promise<void> {
  const running = nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null);
  for (const node of running) node.child.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const node of running) {
      if (node.child.exitCode === null && node.child.signalCode === null) {
        process.stdout.write(`[${node.name}] still running after ${graceMs} ms: SIGKILL\n`);
        node.child.kill('SIGKILL');
      }
    }
  }, graceMs);
  await Promise.all(running.map((n) => n.exited));
  clearTimeout(timer);
}
