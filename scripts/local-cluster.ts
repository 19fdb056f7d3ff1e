// `npm run cluster`: a cluster on this machine for development and tests. PostgreSQL, Redis and
// an S3 server on loopback (started when not running: scripts/start-*.sh; or given with flags),
// then gateways and workers as separate processes sharing them, each with a data dir of its own
// under --dir. Prints the gateways' URLs and the admin key; Ctrl-C (or SIGTERM) stops every node
// (each drains first). The backends keep running: other clusters and tests share them.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadClusterState, prepareBackends } from './local-cluster/backends.ts';
import {
  type ClusterNode,
  freePort,
  type NodeSpec,
  startNode,
  stopNodes,
  waitHealthy,
} from './local-cluster/nodes.ts';

const USAGE = `Usage: npm run cluster -- [options]
  --dir <path>            the cluster's folder: secrets, node data dirs (default .faas-cluster)
  --port <n>              first gateway's port; gateways n, n+1…, workers n+10, n+11… (default 8080;
                          0: free ports)
  --gateways <n>          (default 2)     --workers <n>    (default 2)
  --database-url <url>    a PostgreSQL database to use as it is, instead of the local server
  --queue-url <url>       a Redis to use instead of the local one
  --s3-endpoint <url>     an S3 server to use instead of the local s3rver
  --s3-bucket <name>      its bucket (default faas-test-blobs, the one scripts/start-s3.sh makes)
  --grace-ms <n>          how long stopping nodes may drain before they are killed (default 30000)`;

const HEALTH_TIMEOUT_MS = 120_000;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string', default: '.faas-cluster' },
      port: { type: 'string', default: '8080' },
      gateways: { type: 'string', default: '2' },
      workers: { type: 'string', default: '2' },
      'database-url': { type: 'string' },
      'queue-url': { type: 'string' },
      's3-endpoint': { type: 'string' },
      's3-bucket': { type: 'string', default: 'faas-test-blobs' },
      'grace-ms': { type: 'string', default: '30000' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const dir = resolve(values.dir);
  const basePort = count(values.port, 'port', 0);
  const graceMs = count(values['grace-ms'], 'grace-ms', 0, 3_600_000);
  const specs: NodeSpec[] = [];
  for (const [role, n, offset] of [
    // Workers' ports start 10 above the first gateway's: at most 10 gateways.
    ['gateway', count(values.gateways, 'gateways', 1, 10), 0],
    ['worker', count(values.workers, 'workers', 1, 50), 10],
  ] as const) {
    for (let i = 0; i < n; i++) {
      const port = basePort === 0 ? await freePort() : basePort + offset + i;
      specs.push({ name: `${role}-${i + 1}`, role, port });
    }
  }

  const state = loadClusterState(dir);
  const backends = await prepareBackends(state, {
    databaseUrl: values['database-url'],
    queueUrl: values['queue-url'],
    s3Endpoint: values['s3-endpoint'],
    s3Bucket: values['s3-bucket'],
  });
  const shared = {
    ...backends,
    FAAS_CLUSTER_SECRET: state.clusterSecret,
    FAAS_ADMIN_KEY: state.adminKey,
    FAAS_SECRET_KEY: state.secretKey,
  };

  const nodes: ClusterNode[] = [];
  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    if (stopping) {
      // A second Ctrl-C: no more waiting for drains.
      for (const node of nodes) node.child.kill('SIGKILL');
      return;
    }
    process.stdout.write(`local-cluster: ${signal}: stopping ${nodes.length} nodes (they drain first)\n`);
    stopping = stopNodes(nodes, graceMs).then(() => {
      process.stdout.write('local-cluster: every node has exited\n');
      process.exit(0);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  // All at once: nodes migrating an empty database together take turns (an advisory lock).
  try {
    for (const spec of specs) nodes.push(startNode(spec, dir, shared));
    // Every node's fate, so that each one that failed is named, not only the first.
    const results = await Promise.allSettled(nodes.map((node) => waitHealthy(node, HEALTH_TIMEOUT_MS)));
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
    if (failed.length > 0) throw new Error(failed.join('; '));
  } catch (err) {
    // No node outlives a failed start.
    await (stopping ?? stopNodes(nodes, graceMs));
    throw err;
  }
  if (stopping) return;

  for (const node of nodes) {
    void node.exited.then((how) => {
      if (stopping) return;
      process.stdout.write(`local-cluster: ${node.name} ${how}; the others keep running\n`);
      if (nodes.every((n) => n.child.exitCode !== null || n.child.signalCode !== null)) process.exit(1);
    });
  }
  const gateways = nodes.filter((n) => n.role === 'gateway');
  const lines = [
    `local-cluster: up (data in ${dir})`,
    ...nodes.map(
      (n) =>
        `  ${n.name.padEnd(10)} ${n.url}  pid ${n.child.pid}${n.role === 'worker' ? '  (internal)' : ''}`,
    ),
    `  admin key  ${state.adminKey}`,
    `  export FAAS_URL=${gateways[0]?.url} FAAS_API_KEY=${state.adminKey}`,
    'Ctrl-C stops every node (each drains first); PostgreSQL, Redis and S3 keep running.',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

function count(raw: string, name: string, min: number, max = 65_535): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(`--${name} must be an integer from ${min} to ${max} (got ${raw})`);
  }
  return n;
}

main().catch((err: unknown) => {
  process.stderr.write(`local-cluster: ${(err as Error).message}\n${USAGE}\n`);
  process.exit(1);
});
