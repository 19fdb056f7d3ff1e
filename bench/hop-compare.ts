// The gateway → worker hop of bench section 11, this tree against an earlier commit in one run:
// two clusters on loopback (each its own database, Redis prefix and S3 prefix, one gateway and one
// worker), a warm `node` echo called on each worker directly and through each gateway, one call
// of each side per round in rotating order, so a busy moment of the shared machine hits all four
// alike, and beside them the first worker through a plain node:http pass-through process
// (bench/baseline-proxy.ts): the floor any extra process costs here now. Figures are medians of
// the blocks' p50 and p99.
//
//   HOP_BEFORE_REF=main node bench/hop-compare.ts      (needs FAAS_TEST_DATABASE_URL, _REDIS_URL)
//   HOP_ROUNDS (300), HOP_BLOCKS (3); HOP_PROFILE_DIR: CPU profiles of this tree's two nodes
//   (node --cpu-prof, written when they exit).
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startTestCluster, type TestCluster } from '../test/support/cluster.ts';
import { ownedContainers, removeContainers } from '../test/support/engine.ts';
import { serveArgs } from '../test/support/serve-args.ts';
import { ADMIN_KEY, tempDataDir } from '../test/support/server.ts';
import { checkOut } from './before-after.ts';
import { ROOT, startBaselineProxy } from './lib/processes.ts';
import { ms, percentile } from './lib/stats.ts';

const rounds = Number(process.env.HOP_ROUNDS ?? 300);
const blocks = Number(process.env.HOP_BLOCKS ?? 3);
const beforeRef = process.env.HOP_BEFORE_REF;
const profileDir = process.env.HOP_PROFILE_DIR;

interface Node {
  url: string;
  child: ChildProcess;
  dataDir: string;
}

/** A node of `cluster` run from the tree at `root`, with `nodeArgs` for node itself. */
function startNode(cluster: TestCluster, root: string, role: string, nodeArgs: string[]): Promise<Node> {
  const dataDir = tempDataDir();
  const child = spawn(
    process.execPath,
    [...nodeArgs, ...serveArgs(join(root, 'packages/server/src/main.ts'), dataDir, ['--role', role])],
    {
      env: { ...process.env, ...cluster.env, FAAS_ADMIN_KEY: ADMIN_KEY, FAAS_LOG_LEVEL: 'error' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1]) resolve({ url: m[1], child, dataDir });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${role} exited with ${code}:\n${out}`)));
  });
}

async function stopNode(node: Node): Promise<void> {
  if (node.child.exitCode === null) {
    // SIGTERM: a node drains and exits, so --cpu-prof writes its profile.
    const exited = new Promise((done) => node.child.once('exit', done));
    node.child.kill('SIGTERM');
    await Promise.race([exited, new Promise((done) => setTimeout(done, 20_000))]);
    node.child.kill('SIGKILL');
  }
  removeContainers(ownedContainers(node.dataDir));
  rmSync(node.dataDir, { recursive: true, force: true });
}

/** CPU time (user + system, every thread) a process has used, in ms. */
function cpuMs(child: ChildProcess): number {
  const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

const call = (base: string, path: string, body?: string) =>
  fetch(base + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body } : {}),
  });

async function invoke(base: string): Promise<number> {
  const t = performance.now();
  const res = await call(base, '/api/v1/functions/echo/invoke', '{"n":1}');
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`invoke on ${base}: ${res.status}`);
  return performance.now() - t;
}

interface Side {
  name: string;
  gateway: Node;
  worker: Node;
}

async function startSide(name: string, root: string, nodeArgs: (role: string) => string[]) {
  const cluster = await startTestCluster();
  const nodes: Node[] = [];
  try {
    const gateway = await startNode(cluster, root, 'gateway', nodeArgs('gateway'));
    nodes.push(gateway);
    const worker = await startNode(cluster, root, 'worker', nodeArgs('worker'));
    nodes.push(worker);
    const res = await call(
      gateway.url,
      '/api/v1/functions',
      JSON.stringify({ name: 'echo', runtime: 'node', code: 'export default (e) => e' }),
    );
    if (res.status !== 201) throw new Error(`deploy: ${res.status} ${await res.text()}`);
    for (let i = 0; i < 30; i++) {
      await invoke(worker.url);
      await invoke(gateway.url);
    }
    const side: Side = { name, gateway, worker };
    return {
      side,
      close: async () => {
        for (const node of nodes) await stopNode(node);
        await cluster.close();
      },
    };
  } catch (err) {
    for (const node of nodes) await stopNode(node);
    await cluster.close();
    throw err;
  }
}

const closers: (() => Promise<void>)[] = [];
const tree = beforeRef ? checkOut(beforeRef) : undefined;
try {
  const sides: Side[] = [];
  const after = await startSide('this tree', ROOT, (role) =>
    profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, role)}`] : [],
  );
  closers.push(after.close);
  sides.push(after.side);
  if (tree && beforeRef) {
    const before = await startSide(`${beforeRef} (${tree.commit.slice(0, 12)})`, tree.root, () => []);
    closers.push(before.close);
    sides.push(before.side);
  }
  // The floor: this tree's worker through a process that only passes calls on (section 11's).
  const proxy = await startBaselineProxy((sides[0] as Side).worker.url);
  closers.push(() => proxy.stop());
  for (let i = 0; i < 30; i++) await invoke(proxy.url);
  const targets = [
    ...sides.flatMap((s) => [
      { side: s, via: 'worker', url: s.worker.url },
      { side: s, via: 'gateway', url: s.gateway.url },
    ]),
    { side: undefined, via: 'proxy', url: proxy.url },
  ];
  const floor: number[] = [];
  // What each gateway uses with no call at all (the queue's polls, the registry's refresh), per
  // ms: taken off each block's CPU, so the figure per call is the calls' own.
  const idleMs = 5_000;
  const idleBefore = sides.map((s) => cpuMs(s.gateway.child));
  await new Promise((done) => setTimeout(done, idleMs));
  const idleRate = sides.map((s, i) => (cpuMs(s.gateway.child) - (idleBefore[i] as number)) / idleMs);
  const figures = new Map<string, { p50: number[]; p99: number[]; added: number[]; cpu: number[] }>();
  for (let block = 0; block < blocks; block++) {
    const times = targets.map(() => [] as number[]);
    const cpuBefore = sides.map((s) => cpuMs(s.gateway.child));
    const blockStart = performance.now();
    for (let i = 0; i < rounds; i++) {
      for (let k = 0; k < targets.length; k++) {
        const at = (i + k) % targets.length;
        times[at]?.push(await invoke((targets[at] as (typeof targets)[number]).url));
      }
    }
    const plain = times[times.length - 1] as number[];
    const direct0 = times[0] as number[];
    floor.push(percentile(plain, 50) - percentile(direct0, 50));
    console.log(
      `block ${block + 1} plain pass-through to ${(sides[0] as Side).name}'s worker: p50 ${ms(percentile(plain, 50))} p99 ${ms(percentile(plain, 99))}; added p50 ${ms(floor[floor.length - 1] as number)}`,
    );
    for (const [index, s] of sides.entries()) {
      // The gateway serves only its own calls here: its CPU per call (clock ticks of 10 ms, over
      // hundreds of calls), less its idle use, is the hop's work on the gateway. On a loaded
      // machine it is inflated alike on both sides (the kernel's loopback work is charged to the
      // sender, caches are cold), so compare the sides, not the figure with a quiet machine's.
      const background = (idleRate[index] as number) * (performance.now() - blockStart);
      const gatewayCpu = (cpuMs(s.gateway.child) - (cpuBefore[index] as number) - background) / rounds;
      const at = targets.findIndex((t) => t.side === s && t.via === 'worker');
      const direct = times[at] as number[];
      const hop = times[at + 1] as number[];
      const f = figures.get(s.name) ?? { p50: [], p99: [], added: [], cpu: [] };
      f.cpu.push(gatewayCpu);
      f.p50.push(percentile(direct, 50), percentile(hop, 50));
      f.p99.push(percentile(direct, 99), percentile(hop, 99));
      f.added.push(percentile(hop, 50) - percentile(direct, 50));
      figures.set(s.name, f);
      console.log(
        `block ${block + 1} ${s.name}: worker p50 ${ms(percentile(direct, 50))} p99 ${ms(percentile(direct, 99))}; gateway p50 ${ms(percentile(hop, 50))} p99 ${ms(percentile(hop, 99))}; added p50 ${ms(percentile(hop, 50) - percentile(direct, 50))}; gateway CPU ${ms(gatewayCpu)} a call`,
      );
    }
  }
  const med = (values: number[]) => percentile(values, 50);
  const pick = (values: number[], odd: boolean) => values.filter((_, i) => i % 2 === (odd ? 1 : 0));
  console.log(`a plain pass-through process added p50 ${ms(med(floor))} (the floor of any extra hop now)`);
  for (const [name, f] of figures) {
    console.log(
      `${name}: worker p50 ${ms(med(pick(f.p50, false)))} p99 ${ms(med(pick(f.p99, false)))}; through the gateway p50 ${ms(med(pick(f.p50, true)))} p99 ${ms(med(pick(f.p99, true)))}; added p50 ${ms(med(f.added))}; gateway CPU ${ms(med(f.cpu))} a call (medians of ${blocks} blocks of ${rounds})`,
    );
  }
} finally {
  for (const close of closers.reverse()) await close();
  tree?.remove();
}
