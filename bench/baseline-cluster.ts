// The second baseline: the plain server of baseline-server.ts in BENCH_CLUSTER_WORKERS processes
// sharing one port (node:cluster), as many as the faas server has gateway threads: fair on cores.
// Prints "baseline cluster listening on http://127.0.0.1:PORT" once every worker listens.
import cluster from 'node:cluster';

const workers = Number(process.env.BENCH_CLUSTER_WORKERS ?? 2);

if (cluster.isPrimary) {
  // Round robin from the primary, the default on Linux, is what a user of node:cluster gets.
  let listening = 0;
  cluster.on('listening', (_worker, address) => {
    listening += 1;
    if (listening === workers) console.log(`baseline cluster listening on http://127.0.0.1:${address.port}`);
  });
  // Workers asking for port 0 share one port the primary picks. Silent: only this line says ready.
  cluster.setupPrimary({ exec: new URL('./baseline-server.ts', import.meta.url).pathname, silent: true });
  for (let i = 0; i < workers; i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
    process.exit(0);
  });
}
