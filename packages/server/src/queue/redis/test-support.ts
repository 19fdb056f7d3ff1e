// Test support for the Redis queue: the shared test Redis, key clean-up, a private redis-server,
// and a TCP proxy that can cut the connection. Imported by tests only.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** The Redis the tests share; `.ci/run` always sets it (scripts/start-redis.sh). */
export const TEST_REDIS_URL = process.env.FAAS_TEST_REDIS_URL || undefined;
export const NO_REDIS = 'FAAS_TEST_REDIS_URL is not set (.ci/run sets it: scripts/start-redis.sh)';

/** Deletes every key of a queue prefix (`{prefix}:…`). */
export async function dropQueueKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const pattern = `{${prefix.replace(/[*?[\]\\]/g, '\\$&')}}:*`;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Whether `redis-server` can be run here (it is when .ci/run started the shared one). */
export function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

export interface PrivateRedis {
  url: string;
  port: number;
  /** Runs a command on it with redis-cli-like arguments (CONFIG SET …). */
  command(...args: string[]): Promise<unknown>;
  /** Kills it (SIGKILL by default); its AOF stays for `restart`. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and data (jobs written to the AOF come back). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A redis-server of the test's own (appendonly, fsync always), for what must not touch the shared one. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'faas-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--save',
        '',
      ],
      { stdio: 'ignore' },
    );
    for (let i = 0; i < 200; i++) {
      const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        if ((await probe.ping()) === 'PONG') return;
      } catch {
        // not up yet
      } finally {
        probe.disconnect();
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`redis-server on port ${port} did not start`);
  };
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, 'exit');
    running.kill(signal);
    await exited;
  };
  await start();
  return {
    url,
    port,
    async command(...args) {
      const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
      try {
        await redis.connect();
        const [name, ...rest] = args;
        return await redis.call(name as string, ...rest);
      } finally {
        redis.disconnect();
      }
    },
    kill,
    restart: start,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TcpProxy {
  url: string;
  /** Closes every connection and refuses new ones, as a network cut does. */
  cut(): Promise<void>;
  /** Accepts connections again. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** A TCP proxy to Redis on a port of its own: `cut` makes Redis unreachable without touching it. */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const { hostname, port: targetPort } = new URL(target);
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  // Idempotent: a second listen would lose the listening server (and keep the test process alive).
  const listen = async () => {
    if (server) return;
    server = createServer((client) => {
      const upstream = tcpConnect(Number(targetPort || 6379), hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => sockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
  };
  const cut = async () => {
    const closing = server && new Promise((resolve) => server?.close(resolve));
    for (const s of sockets) s.destroy();
    await closing;
    server = undefined;
  };
  await listen();
  const path = new URL(target).pathname;
  return { url: `redis://127.0.0.1:${port}${path}`, cut, restore: listen, close: cut };
}
