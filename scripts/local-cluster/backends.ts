// The shared backends of a local cluster: PostgreSQL, Redis and an S3 server on loopback, started
// by the scripts beside this folder when no URL is given (each script is idempotent: a server
// already answering is used as it is), and the cluster's own database, key prefix and secrets,
// kept in its folder so that a restart finds its functions again.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';

const SCRIPTS = new URL('..', import.meta.url).pathname;

/** What every node of one local cluster shares; made once per cluster folder. */
export interface ClusterState {
  /** Names this cluster's database, Redis keys and S3 prefix apart from others'. */
  id: string;
  clusterSecret: string;
  adminKey: string;
  /** Encrypts the projects' secrets: one key for every node. */
  secretKey: string;
}

export interface BackendOptions {
  databaseUrl?: string | undefined;
  queueUrl?: string | undefined;
  s3Endpoint?: string | undefined;
  s3Bucket: string;
}

/** The FAAS_* settings (and S3 credentials) the backends give every node. */
export type BackendEnv = Record<string, string>;

/** Reads the cluster's state from its folder, or makes it (files mode 0600). */
export function loadClusterState(dir: string): ClusterState {
  const file = join(dir, 'cluster.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as ClusterState;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const state: ClusterState = {
    id: randomBytes(4).toString('hex'),
    clusterSecret: randomBytes(36).toString('base64url'),
    adminKey: `faas_${randomBytes(24).toString('base64url')}`,
    secretKey: randomBytes(32).toString('base64'),
  };
  writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  return state;
}

/** Starts (or finds) the backends and answers the settings that point the nodes at them. */
export async function prepareBackends(state: ClusterState, options: BackendOptions): Promise<BackendEnv> {
  const serverUrl = options.databaseUrl ?? (await runScript('start-postgres.sh'));
  const databaseUrl = options.databaseUrl ?? (await ensureDatabase(serverUrl, `faas_cluster_${state.id}`));
  const queueUrl = options.queueUrl ?? (await runScript('start-redis.sh'));
  const s3Endpoint = options.s3Endpoint ?? (await runScript('start-s3.sh'));
  return {
    FAAS_DATABASE_URL: databaseUrl,
    FAAS_QUEUE_URL: queueUrl,
    FAAS_QUEUE_PREFIX: `faas-cluster-${state.id}`,
    FAAS_OBJECT_STORE_URL: `s3://${options.s3Bucket}/cluster-${state.id}`,
    FAAS_S3_ENDPOINT: s3Endpoint,
    // s3rver's one account, unless the environment names another.
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID || 'S3RVER',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY || 'S3RVER',
    AWS_REGION: process.env.AWS_REGION || 'us-east-1',
  };
}

/** Runs one of scripts/start-*.sh, its progress on our stderr, and answers the URL it prints. */
function runScript(name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('bash', [join(SCRIPTS, name)], { timeout: 600_000 }, (err, stdout) => {
      const url = String(stdout).trim().split('\n').pop() ?? '';
      if (err || !url) reject(new Error(`${name} failed${err ? `: ${err.message}` : ' (no URL printed)'}`));
      else resolve(url);
    });
    child.stderr?.pipe(process.stderr);
  });
}

/** The cluster's own database on the server of `serverUrl`, made when missing. */
async function ensureDatabase(serverUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    // The name is ours (hex id), never input: safe to put in the statement.
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
