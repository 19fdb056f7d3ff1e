import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, loadConfig } from '@faas/core';
import { type RunningServer, startServer } from '@faas/server';
import { SERVER_NODE_FLAGS } from '../../packages/server/src/node-flags.ts';
import { ownedContainers, removeContainers } from './engine.ts';
import { serveArgs } from './serve-args.ts';

export const ADMIN_KEY = 'faas_test_admin_key_0123456789abcdef';
const MAIN = new URL('../../packages/server/src/main.ts', import.meta.url).pathname;

export interface TestServer {
  url: string;
  dataDir: string;
  server: RunningServer;
  /** fetch against the server with the admin key. */
  api(path: string, init?: RequestInit & { json?: unknown; key?: string | null }): Promise<Response>;
  /**
   * Closes the server and removes its data dir, and with it the containers the server left (its
   * instances outlive it by design): their ids, for a test that wants none left.
   */
  close(): Promise<string[]>;
}

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'faas-test-'));
}

/**
 * A real server on a random port in a temp data dir, auth on with a known admin key; one gateway
 * thread unless `gatewayThreads` says otherwise, so each request's thread is known
 * (test/gateway-threads.test.ts covers several).
 */
export async function startTestServer(
  overrides: Partial<Record<keyof Config, string | number | boolean>> = {},
  dataDir = tempDataDir(),
): Promise<TestServer> {
  const config = loadConfig(
    {},
    {
      port: 0,
      host: '127.0.0.1',
      dataDir,
      adminKey: ADMIN_KEY,
      logLevel: 'silent',
      gatewayThreads: 1,
      ...overrides,
    },
  );
  const server = await startServer(config);
  return {
    url: server.url,
    dataDir,
    server,
    api: (path, init) => request(server.url, path, init),
    async close() {
      await server.close();
      let left: string[] = [];
      try {
        left = ownedContainers(dataDir);
        removeContainers(left);
      } catch {
        // No engine here: no containers either.
      }
      rmSync(dataDir, { recursive: true, force: true });
      return left;
    },
  };
}

export function request(
  base: string,
  path: string,
  init: RequestInit & { json?: unknown; key?: string | null } = {},
): Promise<Response> {
  const { json, key = ADMIN_KEY, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (key !== null) headers.set('authorization', `Bearer ${key}`);
  if (json !== undefined) headers.set('content-type', 'application/json');
  return fetch(base + path, {
    ...rest,
    headers,
    ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
  });
}

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** Everything the process printed. */
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Makes project `project` on the server at `base` (as the admin) and a developer key of it. */
export async function developerKeyOf(base: string, project: string): Promise<string> {
  const made = await request(base, '/api/v1/projects', { method: 'POST', json: { name: project } });
  assert.equal(made.status, 201, await made.clone().text());
  const res = await request(base, '/api/v1/keys', {
    method: 'POST',
    json: { name: `${project}-dev`, project, role: 'developer' },
  });
  assert.equal(res.status, 201, await res.clone().text());
  return ((await res.json()) as { key: string }).key;
}

/**
 * The server as a separate process (for crash tests): `node main.ts serve` with the test key.
 * `args` come after the defaults, so `--port 8123` there wins over `--port 0`.
 */
export function spawnServer(
  dataDir: string,
  env: Record<string, string> = {},
  args: string[] = [],
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, ...serveArgs(MAIN, dataDir, args)], {
    env: { ...process.env, FAAS_ADMIN_KEY: ADMIN_KEY, FAAS_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let killed = false;
  let listening = false;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 30_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (listening) return;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        listening = true;
        clearTimeout(timer);
        resolve({
          url: m[1],
          child,
          output: () => out,
          kill: (signal = 'SIGKILL') =>
            new Promise((done) => {
              killed = true;
              if (child.exitCode !== null || child.signalCode !== null) return done();
              child.once('exit', () => done());
              child.kill(signal);
            }),
        });
        // A server that dies under a test fails it with "fetch failed": its own words say why.
        child.once('exit', (code, signal) => {
          if (!killed)
            process.stderr.write(`server ${m[1]} exited (${code ?? signal}) on its own:\n${out}\n`);
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${out}`));
    });
  });
}

/** Polls until `check` returns a value, or fails after `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<T> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}
