#!/usr/bin/env node
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { type Config, ErrorCode, FaasError, isFaasError, loadConfig } from '@faas/core';
import type { FastifyListenOptions } from 'fastify';
import { buildApp } from './gateway/app.ts';
import { gatewayTls } from './gateway/http-server.ts';
import { GatewayThreads } from './gateway/threads/gateway-threads.ts';
import { otherListeners, reusePortSupported } from './gateway/threads/port-owners.ts';
import { createPlatform, type Platform } from './platform.ts';

export interface RunningServer {
  url: string;
  config: Readonly<Config>;
  /** What the server holds: for tests and embedding. */
  platform: Platform;
  /** The gateway threads besides the main one (none with FAAS_GATEWAY_THREADS=1). */
  threads: GatewayThreads | undefined;
  /** Reports not ready (/ready 503) and stops taking async jobs; requests are still served. */
  drain(): Promise<void>;
  /** Stops accepting requests, finishes running work, closes the store. */
  close(): Promise<void>;
}

/** How often connections that finished their last response are closed while the server closes. */
const CLOSE_IDLE_EVERY_MS = 50;

/** Opens the platform and serves it over HTTP. */
export async function startServer(config: Readonly<Config>): Promise<RunningServer> {
  const threadCount = gatewayThreadCount(config);
  // SO_REUSEPORT would let this server share a port another server holds: refuse instead.
  if (threadCount > 1 && config.port !== 0) await refuseSharedPort(config.host, config.port);
  // Unreadable TLS files stop the start before anything is opened.
  gatewayTls(config);
  const platform = await createPlatform(config);
  let app: Awaited<ReturnType<typeof buildApp>>;
  try {
    app = await buildApp(platform);
  } catch (err) {
    await platform.close();
    throw err;
  }
  let threads: GatewayThreads | undefined;
  let port = config.port;
  try {
    // Fastify hands the options to node:http, which knows reusePort; Fastify's types do not.
    const listen: FastifyListenOptions & { reusePort?: boolean } = {
      port: config.port,
      host: config.host,
      reusePort: threadCount > 1,
    };
    await app.listen(listen);
    const address = app.server.address();
    if (typeof address === 'object' && address) port = address.port;
    if (threadCount > 1) {
      threads = await GatewayThreads.start({
        count: threadCount - 1,
        config,
        port,
        main: app.server,
        recorder: platform.recorder,
        changes: platform.changes,
        slots: platform.slots,
        rateBuffers: platform.rateBuffers,
        isolateEndpoints: platform.isolateHosts.endpoints,
        remoteContainerKinds: platform.remoteContainerKinds,
        logger: console,
      });
      const running = threads;
      platform.observability.scrape.add(() => running.metrics());
      // Another server that bound the port at the same moment: one of the two checks sees it.
      await refuseSharedPort(config.host, port);
    }
  } catch (err) {
    await threads?.close();
    await app.close();
    await platform.close();
    throw err;
  }
  try {
    await platform.cluster?.join(port);
  } catch (err) {
    await threads?.close();
    await app.close();
    await platform.close();
    throw err;
  }
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  if (platform.generatedAdminKey) {
    process.stdout.write(
      `\nGenerated the admin API key (shown once, stored hashed):\n\n  ${platform.generatedAdminKey}\n\n` +
        'Use it as "Authorization: Bearer <key>", or export FAAS_API_KEY=<key> for the CLI.\n\n',
    );
  }
  let closing: Promise<void> | undefined;
  return {
    url: `${config.tlsCert ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`,
    config,
    platform,
    threads,
    drain: () => platform.drain(),
    close() {
      closing ??= (async () => {
        // The threads first: their last invocations reach the recorder before it flushes.
        await threads?.close();
        // A connection busy when the close began is kept alive after its response and would hold
        // the close for the keep-alive timeout (72 s): closed as soon as it goes idle instead.
        const idle = setInterval(() => app.server.closeIdleConnections(), CLOSE_IDLE_EVERY_MS);
        try {
          await app.close();
        } finally {
          clearInterval(idle);
        }
        await platform.close();
      })();
      return closing;
    },
  };
}

/**
 * FAAS_GATEWAY_THREADS, with 0 meaning one per core, at most 4, except on a worker: 1. A
 * worker's calls come from gateways to its internal API, which its main thread serves (the
 * container runtime is there): a gateway thread would only pass them on, one more round trip on
 * every call. Always 1 where the threads cannot share the port (no SO_REUSEPORT).
 */
export function gatewayThreadCount(config: Readonly<Config>): number {
  if (!reusePortSupported()) return 1;
  if (config.gatewayThreads > 0) return config.gatewayThreads;
  return config.role === 'worker' ? 1 : Math.min(4, availableParallelism());
}

async function refuseSharedPort(host: string, port: number): Promise<void> {
  if ((await otherListeners(host, port)) === 0) return;
  throw new FaasError(
    ErrorCode.CONFLICT,
    `listen EADDRINUSE: address already in use ${host}:${port} (another process listens on this port; set FAAS_PORT or --port)`,
  );
}

/** Flags of `serve`, each a config key (see docs/configuration.md). */
export function parseServeFlags(argv: string[]): Partial<Record<keyof Config, string | boolean>> {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      'admin-key': { type: 'string' },
      'no-auth': { type: 'boolean' },
      'body-limit-bytes': { type: 'string' },
      'log-level': { type: 'string' },
      'gateway-threads': { type: 'string' },
      role: { type: 'string' },
      'advertise-url': { type: 'string' },
    },
  });
  const flags: Partial<Record<keyof Config, string | boolean>> = {};
  if (values.port !== undefined) flags.port = values.port;
  if (values.host !== undefined) flags.host = values.host;
  if (values['data-dir'] !== undefined) flags.dataDir = values['data-dir'];
  if (values['admin-key'] !== undefined) flags.adminKey = values['admin-key'];
  if (values['no-auth']) flags.auth = false;
  if (values['body-limit-bytes'] !== undefined) flags.bodyLimitBytes = values['body-limit-bytes'];
  if (values['log-level'] !== undefined) flags.logLevel = values['log-level'];
  if (values['gateway-threads'] !== undefined) flags.gatewayThreads = values['gateway-threads'];
  if (values.role !== undefined) flags.role = values.role;
  if (values['advertise-url'] !== undefined) flags.advertiseUrl = values['advertise-url'];
  return flags;
}

/** Serves until SIGINT/SIGTERM, then shuts down gracefully. */
export async function serve(argv: string[]): Promise<void> {
  // A promise nobody awaited failed: a bug in one path (a snapshot, an engine call), which must
  // not end every tenant's calls in flight with the process. Said loudly, with its stack.
  process.on('unhandledRejection', (reason) => {
    console.error('faas: a promise failed with nobody waiting on it (a bug; the server goes on):', reason);
  });
  const config = loadConfig(process.env, parseServeFlags(argv));
  const server = await startServer(config);
  process.stdout.write(
    `faas listening on ${server.url} (role ${config.role}, node ${server.platform.nodeId}, data in ${config.dataDir}, auth ${config.auth ? 'on' : 'off'})\n`,
  );
  const stop = () => {
    // Not ready first (load balancers take this node out), then in-flight work finishes and it exits.
    server
      .drain()
      .then(() => server.close())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          console.error(err);
          process.exit(1);
        },
      );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (import.meta.main) {
  const [command = 'serve', ...rest] = process.argv.slice(2);
  if (command !== 'serve') {
    console.error(
      `Unknown command "${command}". Usage: node packages/server/src/main.ts serve [--port N] [--no-auth] …`,
    );
    process.exit(2);
  }
  serve(rest).catch((err: unknown) => {
    console.error(isFaasError(err) ? err.message : err);
    process.exit(1);
  });
}
