// Section 4: instances and snapshots, when a Docker Engine with gVisor answers. Exec round trip
// in a warm instance (runc and gVisor) against the engine's own exec API on the same container;
// checkpoint time; restore to first output against a fresh `docker run` under runsc; fork of 4,
// the first of a new snapshot and repeats.
import { execFileSync } from 'node:child_process';
import Docker from 'dockerode';
import { api } from './lib/faas-api.ts';
import type { LoadRunner } from './lib/load.ts';
import type { FaasServer } from './lib/processes.ts';
import type { Metric } from './lib/report.ts';
import { ms, percentile, sleep } from './lib/stats.ts';

const EXEC_SECONDS = 3;
const ENGINE_EXEC_RUNS = 30;
const CHECKPOINTS = 5;
const RESTORES = 10;
const DOCKER_RUNS = 5;
const FIRST_FORKS = 3;
const REPEAT_FORKS = 5;
const FORK_COUNT = 4;
// A standby is restored in the background after each restore; a caller restoring again within
// this long would find it still on its way, and share the cores with it.
const REFILL_MS = 1000;
const COUNTER = 'i=0; while true; do i=$((i+1)); echo $i; sleep 0.02; done';

interface InstanceBody {
  id: string;
  image: string;
}

async function json<T>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

async function createInstance(server: FaasServer, body: object): Promise<InstanceBody> {
  return json(await api(server, 'POST', '/api/v1/instances', body));
}

async function removeInstance(server: FaasServer, id: string): Promise<void> {
  await (await api(server, 'DELETE', `/api/v1/instances/${id}`, undefined, [204, 404])).arrayBuffer();
}

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await work();
  return { ms: performance.now() - started, value };
}

/** Resolves at the first stdout event on the instance's WebSocket stream. */
function firstOutput(server: FaasServer, id: string): Promise<void> {
  const url = `${server.url.replace('http', 'ws')}/api/v1/instances/${id}/stream`;
  const socket = new WebSocket(url, { headers: { authorization: `Bearer ${server.adminKey}` } } as never);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no output from ${id} within 10 s`));
    }, 10_000);
    socket.addEventListener('message', (message) => {
      if ((JSON.parse(String(message.data)) as { type: string }).type !== 'stdout') return;
      clearTimeout(timer);
      socket.close();
      resolve();
    });
    socket.addEventListener('error', () => reject(new Error(`stream of ${id} failed`)));
  });
}

/** The engine's exec API on the instance's container: create, start, read to the end, inspect. */
async function engineExec(docker: Docker, instanceId: string): Promise<number[]> {
  const containerId = execFileSync('docker', ['ps', '-q', '--filter', `label=faas.instance=${instanceId}`], {
    encoding: 'utf8',
  }).trim();
  const container = docker.getContainer(containerId);
  const runs: number[] = [];
  for (let i = 0; i < ENGINE_EXEC_RUNS; i++) {
    const started = performance.now();
    const exec = await container.exec({ Cmd: ['true'], AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    await new Promise((resolve) => {
      stream.on('end', resolve);
      stream.resume();
    });
    const { ExitCode } = await exec.inspect();
    if (ExitCode !== 0) throw new Error(`engine exec exited ${ExitCode}`);
    runs.push(performance.now() - started);
  }
  return runs;
}

async function measureExec(
  server: FaasServer,
  load: LoadRunner,
  docker: Docker,
  log: (line: string) => void,
): Promise<Metric[]> {
  const metrics: Metric[] = [];
  for (const isolation of ['runc', 'gvisor'] as const) {
    const instance = await createInstance(server, { isolation });
    try {
      const result = load(
        {
          url: `${server.url}/api/v1/instances/${instance.id}/exec`,
          body: JSON.stringify({ command: ['true'] }),
          headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json' },
        },
        1,
        EXEC_SECONDS,
      );
      if (result.errors > 0) throw new Error(`exec in a ${isolation} instance: ${result.errors} errors`);
      const engine = percentile(await engineExec(docker, instance.id), 50);
      log(
        `  exec true, ${isolation}: p50 ${ms(result.p50Ms)}  p99 ${ms(result.p99Ms)}  (engine exec API p50 ${ms(engine)})`,
      );
      metrics.push(
        {
          section: 'instances',
          metric: `exec round trip p50, ${isolation}, vs the engine's exec API`,
          unit: 'ms',
          faas: result.p50Ms,
          baseline: engine,
          ratio: result.p50Ms / engine,
          target: { op: '<=', value: 30, of: 'faas' },
        },
        { section: 'instances', metric: `exec round trip p99, ${isolation}`, unit: 'ms', faas: result.p99Ms },
      );
    } finally {
      await removeInstance(server, instance.id);
    }
  }
  return metrics;
}

async function snapshot(server: FaasServer, instanceId: string): Promise<string> {
  return (
    await json<{ id: string }>(await api(server, 'POST', '/api/v1/snapshots', { instance_id: instanceId }))
  ).id;
}

async function removeSnapshot(server: FaasServer, id: string): Promise<void> {
  await (await api(server, 'DELETE', `/api/v1/snapshots/${id}`, undefined, [204, 404])).arrayBuffer();
}

async function fork(server: FaasServer, snapshotId: string): Promise<{ ms: number; ids: string[] }> {
  const { ms: took, value } = await timed(async () =>
    json<{ instances: InstanceBody[] }>(
      await api(server, 'POST', `/api/v1/snapshots/${snapshotId}/fork`, { count: FORK_COUNT }),
    ),
  );
  return { ms: took, ids: value.instances.map((i) => i.id) };
}

async function measureSnapshots(server: FaasServer, log: (line: string) => void): Promise<Metric[]> {
  const source = await createInstance(server, { isolation: 'gvisor', command: COUNTER });
  const snapshots: string[] = [];
  const instances: string[] = [source.id];
  try {
    await sleep(500);
    const checkpoints: number[] = [];
    for (let i = 0; i < CHECKPOINTS; i++) {
      const taken = await timed(() => snapshot(server, source.id));
      checkpoints.push(taken.ms);
      snapshots.push(taken.value);
      await sleep(REFILL_MS);
    }
    const snap = snapshots.at(-1) as string;

    const restores: number[] = [];
    for (let i = 0; i < RESTORES; i++) {
      const started = performance.now();
      const restored = await json<InstanceBody>(
        await api(server, 'POST', `/api/v1/snapshots/${snap}/restore`),
      );
      await firstOutput(server, restored.id);
      restores.push(performance.now() - started);
      await removeInstance(server, restored.id);
      await sleep(REFILL_MS);
    }
    const dockerRuns: number[] = [];
    for (let i = 0; i < DOCKER_RUNS; i++) {
      const started = performance.now();
      execFileSync(
        'docker',
        ['run', '--rm', '--runtime', 'gvisor', '--network', 'none', source.image, 'echo', '1'],
        {
          stdio: 'ignore',
        },
      );
      dockerRuns.push(performance.now() - started);
    }

    // A fresh snapshot each time: its only standby is the one made when it was taken.
    const firstForks: number[] = [];
    for (let i = 0; i < FIRST_FORKS; i++) {
      const fresh = await snapshot(server, source.id);
      snapshots.push(fresh);
      await sleep(REFILL_MS);
      const forked = await fork(server, fresh);
      firstForks.push(forked.ms);
      for (const id of forked.ids) await removeInstance(server, id);
    }
    // Repeats of one snapshot, a caller's pause apart: its standbys are back to 4 by then.
    const repeatForks: number[] = [];
    for (let i = 0; i < REPEAT_FORKS; i++) {
      await sleep(REFILL_MS * FORK_COUNT);
      const forked = await fork(server, snap);
      repeatForks.push(forked.ms);
      for (const id of forked.ids) await removeInstance(server, id);
    }

    const restoreP50 = percentile(restores, 50);
    const dockerP50 = percentile(dockerRuns, 50);
    log(`  checkpoint (gVisor, memory + files): p50 ${ms(percentile(checkpoints, 50))}`);
    log(
      `  restore to first output: p50 ${ms(restoreP50)}  p99 ${ms(percentile(restores, 99))}  (docker run --rm under runsc to its output: p50 ${ms(dockerP50)})`,
    );
    log(
      `  fork of ${FORK_COUNT}: first of a new snapshot p50 ${ms(percentile(firstForks, 50))}; repeat p50 ${ms(percentile(repeatForks, 50))}`,
    );
    const section = 'snapshots';
    return [
      {
        section,
        metric: 'checkpoint p50 (gVisor)',
        unit: 'ms',
        faas: percentile(checkpoints, 50),
      },
      {
        section,
        metric: 'restore to first output p50 vs docker run --rm (runsc)',
        unit: 'ms',
        faas: restoreP50,
        baseline: dockerP50,
        ratio: restoreP50 / dockerP50,
        target: { op: '<=', value: 250, of: 'faas' },
      },
      { section, metric: 'restore to first output p99', unit: 'ms', faas: percentile(restores, 99) },
      {
        section,
        metric: `fork of ${FORK_COUNT} p50, first of a new snapshot (n=${FIRST_FORKS})`,
        unit: 'ms',
        faas: percentile(firstForks, 50),
        target: { op: '<=', value: 1000, of: 'faas' },
      },
      {
        section,
        metric: `fork of ${FORK_COUNT} p50, repeated (n=${REPEAT_FORKS})`,
        unit: 'ms',
        faas: percentile(repeatForks, 50),
        target: { op: '<=', value: 1000, of: 'faas' },
      },
    ];
  } finally {
    for (const id of instances) await removeInstance(server, id);
    for (const id of snapshots) await removeSnapshot(server, id);
  }
}

export async function measureInstances(
  server: FaasServer,
  load: LoadRunner,
  log: (line: string) => void,
): Promise<Metric[]> {
  const docker = new Docker();
  return [...(await measureExec(server, load, docker, log)), ...(await measureSnapshots(server, log))];
}
