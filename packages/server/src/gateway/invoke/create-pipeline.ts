import type { Config, RateBuckets, SessionStore, Tracer } from '@faas/core';
import type { ApiKeyService } from '../../control/api-key-service.ts';
import type { InvocationService } from '../../control/invocation-service.ts';
import type { RateRule } from '../../control/rate-limits/gcra.ts';
import type { RouteTable } from '../../control/route-table.ts';
import type { ProjectCors } from '../cors/project-cors.ts';
import { authHook, functionAccess, projectGuess } from './auth-hook.ts';
import { InvokePipeline, type RequestHook } from './invoke-pipeline.ts';
import { InvokeRateLimits, type ProjectLimitSource } from './rate-limits.ts';

export interface PipelineParts {
  /** Whether the API's invoke needs a key (FAAS_AUTH). */
  auth: boolean;
  keys: ApiKeyService;
  invocations: InvocationService;
  routes: RouteTable;
  /** The console's sessions, where this thread serves them (the main thread's; others pass them on). */
  sessions?: SessionStore;
  /** This thread's spans; absent when tracing is off. */
  tracing?: Tracer;
  /** Where the rate limits' buckets live (every thread's the same). */
  rateBuckets: RateBuckets;
  /** FAAS_PUBLIC_RATE_LIMIT_*: per client address on public triggers; 0 requests/s: none. */
  publicRateLimit: RateRule;
  /** Projects' rate limits (ProjectRateLimits). */
  projectLimits: ProjectLimitSource;
  /** Projects' CORS settings. */
  cors: ProjectCors;
  /** FAAS_TRIGGER_SANDBOX. */
  triggerSandbox: boolean;
}

/** The invoke pipeline of a thread, with the hooks the configuration asks for: the same on every thread. */
export function createInvokePipeline(parts: PipelineParts): InvokePipeline {
  const hooks: RequestHook[] = [];
  if (parts.auth) hooks.push(authHook(parts.keys, parts.sessions));
  return new InvokePipeline({
    invocations: parts.invocations,
    routes: parts.routes,
    hooks,
    ...(parts.auth ? { access: functionAccess(), guessProject: projectGuess(parts.keys) } : {}),
    ...(parts.tracing ? { tracing: parts.tracing } : {}),
    cors: parts.cors,
    triggerSandbox: parts.triggerSandbox,
    rateLimits: new InvokeRateLimits(parts.rateBuckets, {
      projects: parts.projectLimits,
      ...(parts.publicRateLimit.requestsPerSecond > 0 ? { publicRule: parts.publicRateLimit } : {}),
    }),
  });
}

/** FAAS_PUBLIC_RATE_LIMIT_RPS and _BURST as a rule (0 requests/s: none). */
export function publicRateLimit(
  config: Pick<Config, 'publicRateLimitRps' | 'publicRateLimitBurst'>,
): RateRule {
  return { requestsPerSecond: config.publicRateLimitRps, burst: config.publicRateLimitBurst };
}
