// `npm run cluster` (scripts/local-cluster.ts) as a user runs it: one command, two gateways and two
// workers as separate processes on the test PostgreSQL, Redis and S3. A function deployed through
// one gateway is invoked through the other, then SIGINT (Ctrl-C) stops the command and every
// process it started, isolate hosts included, is gone.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '@faas/core';
import { createTestDatabase, postgresTestUrl } from '@faas/testkit';
import { startTestS3, type TestS3 } from '../../packages/server/src/blobs/s3/test-support.ts';
import { dropQueueKeys, TEST_REDIS_URL } from '../../packages/server/src/queue/redis/test-support.ts';
import { loadClusterState } from '../../scripts/local-cluster/backends.ts';
import { buildImagesForTests } from '../container/support.ts';
import { clusterSkipReason } from '../support/cluster.ts';
import { engineSkipReason } from '../support/engine.ts';
import { request, waitFor } from '../support/server.ts';

const SCRIPT = new URL('../../scripts/local-cluster.ts', import.meta.url).pathname;

interface Up {
  nodes: Map<string, { url: string; pid: number }>;
  adminKey: string;
}

/** Every process below `root` (children, their children…), from ps. */
function descendants(root: number): number[] {
  const rows = execFileSync('ps', ['-e', '-o', 'pid=,ppid=']).toString().trim().split('\n');
  const children = new Map<number, number[]>();
  for (const row of rows) {
    const [pid, ppid] = row.trim().split(/\s+/).map(Number) as [number, number];
    children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      walk(child);
    }
  };
  walk(root);
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm run cluster', { skip: clusterSkipReason() }, () => {
  let s3: TestS3;
  let database: { url: string; drop(): Promise<void> };
  let dir: string;
  let command: ChildProcess;
  let output = '';
  let up: Up;

  before(
    async () => {
      // The runtime images, built before the cluster starts (minutes on a fresh machine, shared
      // by the test files), so the container function's deploy below does not build them.
      if (!engineSkipReason()) await buildImagesForTests();
      s3 = await startTestS3();
      database = await createTestDatabase(postgresTestUrl() as string);
      dir = mkdtempSync(join(tmpdir(), 'faas-local-cluster-'));
      command = spawn(
        process.execPath,
        [
          SCRIPT,
          '--dir',
          dir,
          '--port',
          '0',
          '--database-url',
          database.url,
          '--queue-url',
          TEST_REDIS_URL as string,
          '--s3-endpoint',
          s3.endpoint,
          '--s3-bucket',
          s3.bucket,
        ],
        { env: { ...process.env, ...s3.env, FAAS_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      command.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      command.stderr?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      up = await waitFor(
        async () => {
          if (command.exitCode !== null) throw new Error(`local-cluster exited early:\n${output}`);
          if (!output.includes('Ctrl-C stops every node')) return undefined;
          const nodes = new Map<string, { url: string; pid: number }>();
          for (const m of output.matchAll(/^ {2}(\S+-\d+)\s+(http:\/\/\S+)\s+pid (\d+)/gm)) {
            nodes.set(m[1] as string, { url: m[2] as string, pid: Number(m[3]) });
          }
          const adminKey = /admin key\s+(\S+)/.exec(output)?.[1] as string;
          return { nodes, adminKey };
        },
        110_000,
        `the cluster to come up:\n${output}`,
      );
    },
    { timeout: 900_000 },
  );

  after(async () => {
    if (command && command.exitCode === null) command.kill('SIGKILL');
    const state = dir
      ? (JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as { id: string })
      : undefined;
    if (state && TEST_REDIS_URL) await dropQueueKeys(TEST_REDIS_URL, `faas-cluster-${state.id}`);
    await database?.drop();
    await s3?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('starts two gateways and two workers, each a process of its own, and prints the admin key', () => {
    assert.deepEqual([...up.nodes.keys()].sort(), ['gateway-1', 'gateway-2', 'worker-1', 'worker-2']);
    const pids = new Set([...up.nodes.values()].map((n) => n.pid));
    assert.equal(pids.size, 4);
    for (const pid of pids) assert.ok(descendants(command.pid as number).includes(pid), `${pid} is a child`);
    assert.match(up.adminKey, /^faas_[A-Za-z0-9_-]{32,}$/);
    assert.match(output, /\[gateway-1\] faas listening on/, 'output is forwarded behind the node name');
  });

  it('joins the workers into one cluster, each at the address it was given', async () => {
    const g2 = up.nodes.get('gateway-2')?.url as string;
    const expected = ['worker-1', 'worker-2'].map((name) => up.nodes.get(name)?.url).sort();
    const urls = await waitFor(
      async () => {
        const res = await request(g2, '/api/v1/cluster/nodes', { key: up.adminKey });
        assert.equal(res.status, 200, await res.clone().text());
        const { items } = (await res.json()) as { items: Array<{ url: string; role: string }> };
        const workers = items
          .filter((n) => n.role === 'worker')
          .map((n) => n.url)
          .sort();
        return workers.length === 2 ? workers : undefined;
      },
      10_000,
      'both workers in the registry',
    );
    assert.deepEqual(urls, expected);
  });

  it('runs a function deployed through gateway 1 when invoked through gateway 2', async () => {
    const g1 = up.nodes.get('gateway-1')?.url as string;
    const g2 = up.nodes.get('gateway-2')?.url as string;
    const key = up.adminKey;
    const deployed = await request(g1, '/api/v1/functions', {
      method: 'POST',
      key,
      json: { name: 'add', runtime: 'js', code: 'export default (e) => e.a + e.b' },
    });
    assert.equal(deployed.status, 201, await deployed.clone().text());
    const result = await waitFor(
      async () => {
        const res = await request(g2, '/api/v1/functions/add/invoke', {
          method: 'POST',
          key,
          json: { a: 2, b: 3 },
        });
        return res.status === 200 ? res.json() : undefined;
      },
      10_000,
      'gateway 2 to run the function',
    );
    assert.equal(result, 5);
    const wrongKey = await request(g2, '/api/v1/functions', {
      key: 'faas_not_the_admin_key_0123456789abcdef',
    });
    assert.equal(wrongKey.status, 401);
  });

  it('runs a container function deployed through gateway 1 on a worker, invoked through gateway 2', {
    skip: engineSkipReason(),
  }, async () => {
    const g1 = up.nodes.get('gateway-1')?.url as string;
    const g2 = up.nodes.get('gateway-2')?.url as string;
    const key = up.adminKey;
    const deployed = await request(g1, '/api/v1/functions', {
      method: 'POST',
      key,
      json: {
        name: 'double',
        runtime: 'node',
        code: 'export default async (e) => ({ n: e.n * 2, pid: process.pid })',
      },
    });
    assert.equal(deployed.status, 201, await deployed.clone().text());
    const res = await request(g2, '/api/v1/functions/double/invoke', {
      method: 'POST',
      key,
      json: { n: 21 },
    });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(((await res.json()) as { n: number }).n, 42);
  });

  it('stops every process it started on SIGINT, and exits 0', async () => {
    const started = descendants(command.pid as number);
    assert.ok(started.length >= 4, `the nodes and their helpers: ${started}`);
    const exited = new Promise<number | null>((resolve) => command.once('exit', (code) => resolve(code)));
    command.kill('SIGINT');
    assert.equal(await exited, 0, output);
    assert.match(output, /every node has exited/);
    const left = await waitFor(
      async () => {
        const still = started.filter(alive);
        return still.length === 0 ? still : undefined;
      },
      10_000,
      'every process to be gone',
    ).catch(() => started.filter(alive));
    assert.deepEqual(left, [], `still running: ${left.join(', ')}`);
  });
});

describe('npm run cluster, when a node cannot start', () => {
  it('is not fooled by another server on the port, stops what it started and exits 1', async () => {
    // Something else answers 200 on the first gateway's port: the gateway cannot listen there.
    const squatter = createServer((_req, res) => res.end('{"status":"ok"}'));
    squatter.listen(0, '127.0.0.1');
    await once(squatter, 'listening');
    const port = (squatter.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'faas-local-cluster-'));
    try {
      const command = spawn(
        process.execPath,
        [
          SCRIPT,
          ...['--dir', dir, '--port', String(port)],
          // Given URLs are used as they are: nothing is started, and nothing answers there.
          ...[
            '--database-url',
            'postgres://faas:faas@127.0.0.1:1/none',
            '--queue-url',
            'redis://127.0.0.1:1',
          ],
          ...['--s3-endpoint', 'http://127.0.0.1:1'],
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      command.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      command.stderr.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      const [code] = (await once(command, 'exit')) as [number | null];
      assert.equal(code, 1, output);
      assert.doesNotMatch(output, /local-cluster: up/);
      assert.match(output, /gateway-1 exited with code \d+ before it answered/);
      assert.deepEqual(descendants(command.pid as number), []);
    } finally {
      squatter.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('npm run cluster, given bad flags', () => {
  for (const [flags, message] of [
    [['--gateways', '11'], /--gateways must be an integer from 1 to 10 \(got 11\)/],
    [['--port', 'eighty'], /--port must be an integer/],
    [['--no-such-flag'], /Unknown option '--no-such-flag'/],
  ] as const) {
    it(`${flags.join(' ')}: exits 1 with the reason and the usage, starting nothing`, async () => {
      const cwd = mkdtempSync(join(tmpdir(), 'faas-local-cluster-'));
      const command = spawn(process.execPath, [SCRIPT, ...flags], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      command.stderr.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      const [code] = (await once(command, 'exit')) as [number | null];
      assert.equal(code, 1);
      assert.match(output, message);
      assert.match(output, /Usage: npm run cluster/);
      assert.deepEqual(readdirSync(cwd), [], 'no cluster folder was made');
      rmSync(cwd, { recursive: true, force: true });
    });
  }
});

describe("a local cluster's state", () => {
  it('is made once, private, and the same on the next start (so its database and secrets stay)', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'faas-local-cluster-')), 'cluster');
    try {
      const first = loadClusterState(dir);
      assert.equal(statSync(join(dir, 'cluster.json')).mode & 0o777, 0o600);
      assert.equal(statSync(dir).mode & 0o777, 0o700);
      assert.deepEqual(loadClusterState(dir), first);
      const other = loadClusterState(join(dir, 'other'));
      assert.notEqual(other.id, first.id);
      assert.notEqual(other.clusterSecret, first.clusterSecret);
      // The generated secrets pass the server's own rules.
      const config = loadConfig({
        FAAS_CLUSTER_SECRET: first.clusterSecret,
        FAAS_ADMIN_KEY: first.adminKey,
        FAAS_SECRET_KEY: first.secretKey,
      });
      assert.equal(config.clusterSecret, first.clusterSecret);
      assert.equal(config.adminKey, first.adminKey);
    } finally {
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }
  });
});
