import { DEFAULT_PROJECT } from '@faas/core';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { invocationIdOf } from '../observability/request-log.ts';
import type { Platform } from '../platform.ts';
import { assertRouteScoped } from '../tenancy/route-scopes.ts';
import { auditTrail } from './audit-trail.ts';
import { trustProxies } from './client-address.ts';
import { acceptGatewayCaller } from './cluster-caller.ts';
import { consoleRoutes } from './console-static.ts';
import { apiCors } from './cors/api-cors.ts';
import { badUrl, errorResponse, installErrorHandling, toFaasError } from './errors.ts';
import { createGatewayServer, gatewayTls } from './http-server.ts';
import { internalInvokeAdapter } from './internal-invoke-adapter.ts';
import { createInvokePipeline, publicRateLimit } from './invoke/create-pipeline.ts';
import { fastifyInvokeRoutes } from './invoke/fastify-invoke-routes.ts';
import { nodeInvokeAdapter } from './invoke/node-invoke-adapter.ts';
import { acceptEmptyJsonBodies } from './json-bodies.ts';
import { requestValidators } from './request-validators.ts';
import { sendParts } from './response-parts.ts';
import { auditRoutes } from './routes/audit.ts';
import { clusterRoutes } from './routes/cluster.ts';
import { executeRoutes } from './routes/execute.ts';
import { functionSourceRoutes } from './routes/function-source.ts';
import { functionStatsRoutes } from './routes/function-stats.ts';
import { functionRoutes } from './routes/functions.ts';
import { healthRoutes } from './routes/health.ts';
import { instanceFileRoutes } from './routes/instance-files.ts';
import { instanceStreamRoutes } from './routes/instance-stream.ts';
import { instanceRoutes } from './routes/instances.ts';
import { internalRoutes } from './routes/internal.ts';
import { invocationRoutes } from './routes/invocations.ts';
import { keyRoutes } from './routes/keys.ts';
import { logStreamRoutes } from './routes/log-stream.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { projectRoutes } from './routes/projects.ts';
import { queueRoutes } from './routes/queue.ts';
import { secretRoutes } from './routes/secrets.ts';
import { sessionRoutes, streamTicketRoutes } from './routes/session.ts';
import { snapshotRoutes } from './routes/snapshots.ts';
import { statsRoutes } from './routes/stats.ts';
import { requireKeyOrSession } from './session/session-auth.ts';

export interface BuildAppOptions {
  /** Serve invokes on node:http ahead of Fastify. @default true (false: only through Fastify, for tests) */
  nodeAdapter?: boolean;
}

/** Builds the HTTP gateway over a platform; `main.ts` makes it listen. */
export async function buildApp(platform: Platform, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const { config } = platform;
  trustProxies(config.trustedProxies);
  // The console's sessions: this thread's Fastify and invoke pipeline serve every cookie request
  // (gateway threads hand them here: session-auth.ts usesSession).
  const sessions = platform.sessions;
  const pipeline = createInvokePipeline({
    sessions,
    auth: config.auth,
    keys: platform.keys,
    invocations: platform.invocations,
    routes: platform.routes.table,
    rateBuckets: platform.rateBuckets,
    projectLimits: platform.projectLimits,
    cors: platform.cors,
    publicRateLimit: publicRateLimit(config),
    triggerSandbox: config.triggerSandbox,
    ...(platform.observability.tracing ? { tracing: platform.observability.tracing } : {}),
  });
  const adapter =
    options.nodeAdapter === false
      ? () => false
      : nodeInvokeAdapter({
          pipeline,
          bodyLimitBytes: config.bodyLimitBytes,
          logger: console,
          metrics: platform.observability.http,
          log: platform.observability.requests,
        });
  // A worker's container calls from its gateways skip the router too (internal-invoke-adapter.ts).
  const versions = platform.workerVersions;
  const internal =
    options.nodeAdapter !== false && versions && config.clusterSecret
      ? internalInvokeAdapter(platform, config.clusterSecret, versions)
      : () => false;
  const app = Fastify({
    // Invokes skip the router (invoke/node-invoke-adapter.ts); everything else is Fastify's.
    serverFactory: (route) => {
      return createGatewayServer((req, res) => {
        if (!internal(req, res) && !adapter(req, res)) route(req, res);
      }, gatewayTls(config));
    },
    // The server answers bytes that are not HTTP itself (http-server.ts), in the error format.
    clientErrorHandler: () => {},
    logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
    // One log line per request costs more than the rest of a warm invoke.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    // The router's own refusals (a path that is not percent-encoding) in the one error format.
    frameworkErrors: (error, _request, reply) => {
      const faas = error.code === 'FST_ERR_BAD_URL' ? badUrl() : toFaasError(error);
      void sendParts(reply, errorResponse(faas));
    },
    // Long names reach the pipeline, which refuses them in its own words (a 422, not a 404).
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 16_384 },
  });
  // Unknown fields are errors (422), not silently dropped; bodies are not coerced.
  app.setValidatorCompiler(requestValidators());
  installErrorHandling(app, config.bodyLimitBytes);
  const { http, requests } = platform.observability;
  app.addHook('onResponse', (request, reply, done) => {
    // The route's pattern, never the path; requests no route matched share one label.
    const route = request.routeOptions.url ?? 'unmatched';
    http.observe(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    requests.write({
      method: request.method,
      route,
      status: reply.statusCode,
      durationMs: reply.elapsedTime,
      keyId: request.apiKey?.id ?? request.invokeKeyId,
      invocationId: invocationIdOf(reply.getHeader('x-invocation-id')) ?? invocationOfRoute(request),
      traceId: request.invokeTraceId,
    });
    done();
  });
  acceptEmptyJsonBodies(app);
  // Set from the request's key (auth.ts); with auth off every request acts in the default project
  // and sees every object.
  app.decorateRequest('project', DEFAULT_PROJECT);
  app.decorateRequest('projectScope', undefined);
  app.decorateRequest('viaGateway', false);
  app.decorateRequest('recheckCredential', undefined);
  app.decorateRequest('auditProject', undefined);

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

  // Before the routes: its onSend hook is the API's, its OPTIONS route the API's preflights.
  apiCors(app, platform.cors, config.auth);
  healthRoutes(app, platform);
  metricsRoutes(app, platform);
  await app.register(
    async (session) => {
      session.addHook('onRequest', noStore);
      sessionRoutes(session, platform, sessions);
    },
    { prefix: '/api/v1' },
  );

  await app.register(
    async (api) => {
      // Every route must have a scope (tenancy/route-scopes.ts): one without it stops the start.
      api.addHook('onRoute', (route) => assertRouteScoped(route.method, route.url));
      api.addHook('onRequest', noStore);
      const byKey = requireKeyOrSession(platform.keys, sessions, config.auth, platform.projects);
      // A worker also takes its gateways' forwarded requests (instances, snapshots).
      api.addHook(
        'onRequest',
        config.role === 'worker' && config.clusterSecret
          ? acceptGatewayCaller(config.clusterSecret, byKey)
          : byKey,
      );
      // A gateway sends instance and snapshot routes to the workers (cluster/instance-routing.ts).
      if (platform.instanceRouting) api.addHook('preHandler', platform.instanceRouting);
      api.addHook('onResponse', auditTrail(platform.store, console));
      auditRoutes(api, platform);
      functionRoutes(api, platform);
      functionSourceRoutes(api, platform);
      invocationRoutes(api, platform);
      logStreamRoutes(api, platform);
      statsRoutes(api, platform);
      functionStatsRoutes(api, platform);
      queueRoutes(api, platform);
      clusterRoutes(api, platform);
      keyRoutes(api, platform);
      projectRoutes(api, platform);
      secretRoutes(api, platform);
      executeRoutes(api, platform);
      instanceRoutes(api, platform);
      instanceStreamRoutes(api, platform);
      streamTicketRoutes(api, platform, sessions);
      snapshotRoutes(api, platform);
      await api.register(async (files) =>
        instanceFileRoutes(files, platform, {
          bodyLimit: config.bodyLimitBytes,
          maxDownloadBytes: config.instanceMaxDownloadBytes,
        }),
      );
    },
    { prefix: '/api/v1' },
  );

  // A worker's API for the gateways of its cluster: the cluster secret, never a user's key.
  if (versions && config.clusterSecret) {
    const secret = config.clusterSecret;
    await app.register(async (internal) => internalRoutes(internal, platform, secret, versions), {
      prefix: '/internal/v1',
    });
  }

  // Authenticated by the pipeline's own hook, not the /api/v1 one: every invoke goes through one.
  await app.register(async (invokes) => fastifyInvokeRoutes(invokes, pipeline, config.bodyLimitBytes));
  // The web console (packages/web's build) at / and /console/, when it was built.
  if (!consoleRoutes(app))
    app.log.warn('The web console is not built (npm install builds it): / answers 404');
  return app;
}

/** The invocation a route of one invocation names (`/api/v1/invocations/:id`, its logs…). */
function invocationOfRoute(request: FastifyRequest): string | undefined {
  if (!request.routeOptions.url?.startsWith('/api/v1/invocations/:id')) return undefined;
  return invocationIdOf((request.params as { id?: unknown } | undefined)?.id);
}

/**
 * API answers are one caller's data (a session's CSRF token, invocation results): no cache
 * between the server and the caller keeps them. A route that sets its own caching keeps it.
 */
async function noStore(_request: FastifyRequest, reply: FastifyReply): Promise<void> {
  reply.header('cache-control', 'no-store');
}
