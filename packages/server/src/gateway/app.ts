import { createServer } from 'node:http';
import { DEFAULT_PROJECT } from '@faas/core';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Platform } from '../platform.ts';
import { requireApiKey } from './auth.ts';
import { installErrorHandling } from './errors.ts';
import { createFastInvoke } from './fast-invoke.ts';
import { executeRoutes } from './routes/execute.ts';
import { functionRoutes } from './routes/functions.ts';
import { healthRoutes } from './routes/health.ts';
import { instanceFileRoutes } from './routes/instance-files.ts';
import { instanceStreamRoutes } from './routes/instance-stream.ts';
import { instanceRoutes } from './routes/instances.ts';
import { invocationRoutes } from './routes/invocations.ts';
import { invokeRoutes } from './routes/invoke.ts';
import { keyRoutes } from './routes/keys.ts';
import { snapshotRoutes } from './routes/snapshots.ts';
import { triggerRoutes } from './routes/triggers.ts';

/** Builds the HTTP gateway over a platform; `main.ts` makes it listen. */
export async function buildApp(platform: Platform): Promise<FastifyInstance> {
  const { config } = platform;
  const fastInvoke = createFastInvoke({
    auth: config.auth,
    keys: platform.keys,
    invocations: platform.invocations,
    routes: platform.routes.table,
    bodyLimitBytes: config.bodyLimitBytes,
    // Every runtime is on this thread, so the fast path never hands a request back.
    runsHere: () => true,
    logger: console,
  });
  const handBack = () => {
    throw new Error('the main thread runs every function');
  };
  const app = Fastify({
    // Warm invokes and triggers skip the router (fast-invoke.ts); everything else is Fastify's.
    serverFactory: (route) => {
      const server = createServer((req, res) => {
        if (!fastInvoke(req, res, handBack)) route(req, res);
      });
      server.keepAliveTimeout = 72_000;
      return server;
    },
    logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
    // One log line per request costs more than the rest of a warm invoke.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    // Unknown fields are errors (422), not silently dropped.
    ajv: { customOptions: { removeAdditional: false, allErrors: true } },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
  });
  installErrorHandling(app);
  // Until keys carry a project (auth.ts), every request acts in the default one.
  app.decorateRequest('project', DEFAULT_PROJECT);

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'faas',
        version: '1',
        description: 'Functions, invocations, API keys, execute, instances and snapshots. See docs/api.md.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(websocket, { options: { maxPayload: config.bodyLimitBytes } });

  healthRoutes(app, platform);

  await app.register(
    async (api) => {
      api.addHook('onRequest', requireApiKey(platform.keys, config.auth));
      functionRoutes(api, platform);
      invocationRoutes(api, platform);
      keyRoutes(api, platform);
      executeRoutes(api, platform);
      instanceRoutes(api, platform);
      instanceStreamRoutes(api, platform);
      snapshotRoutes(api, platform);
      await api.register(async (files) => instanceFileRoutes(files, platform, config.bodyLimitBytes));
      await api.register(async (invoke) => invokeRoutes(invoke, platform));
    },
    { prefix: '/api/v1' },
  );

  await app.register(async (triggers) => triggerRoutes(triggers, platform));
  return app;
}
