import {
  type ApiKeyRecord,
  type Bucket,
  DEFAULT_PROJECT,
  type FunctionVersion,
  type RateBuckets,
  type RateDecision,
  type RateLimit,
} from '@faas/core';
import { clientKey } from '../../control/auth-throttle.ts';
import type { RateRule } from '../../control/rate-limits/gcra.ts';
import type { InvokeTarget, RequestHead } from './invoke-target.ts';

/** Projects' limits: at once when known, else read (ProjectRateLimits). */
export interface ProjectLimitSource {
  get(project: string): RateLimit | undefined | Promise<RateLimit | undefined>;
}

export interface InvokeRateLimitOptions {
  /** Per client address on public functions' HTTP triggers (FAAS_PUBLIC_RATE_LIMIT_*); absent: none. */
  publicRule?: RateRule;
  projects?: ProjectLimitSource;
}

type LimitedRequest = { target: InvokeTarget; head: RequestHead; apiKey?: ApiKeyRecord };

/**
 * The invoke pipeline's rate limits: which buckets a request draws on (its client address's on a
 * public trigger, its key's, its project's, its function's), and what a refusal says. A request
 * no limit applies to costs a few property reads and a look in the projects' cache: no bucket is
 * looked at.
 */
export class InvokeRateLimits {
  #buckets: RateBuckets;
  #publicRule: RateRule | undefined;
  #projects: ProjectLimitSource | undefined;
  /** Projects' bucket ids, made again when a project's rule object changes (the cache read it again). */
  #projectIds = new Map<string, { rule: RateLimit; id: string }>();

  constructor(buckets: RateBuckets, options: InvokeRateLimitOptions = {}) {
    this.#buckets = buckets;
    this.#publicRule = options.publicRule;
    this.#projects = options.projects;
  }

  /** The buckets a request draws on, in the order they are taken; undefined: none. */
  bucketsFor(
    request: LimitedRequest,
    fn: FunctionVersion,
  ): Bucket[] | undefined | Promise<Bucket[] | undefined> {
    const project = fn.project ?? DEFAULT_PROJECT;
    const projectRule = this.#projects?.get(project);
    if (projectRule instanceof Promise)
      return projectRule.then((rule) => this.#list(request, fn, project, rule));
    return this.#list(request, fn, project, projectRule);
  }

  #list(
    request: LimitedRequest,
    fn: FunctionVersion,
    project: string,
    projectRule: RateLimit | undefined,
  ): Bucket[] | undefined {
    const publicRule = fn.public && request.target.kind === 'http' ? this.#publicRule : undefined;
    const keyRule = request.apiKey?.rateLimit;
    if (!fn.rateLimit && !publicRule && !keyRule && !projectRule) return undefined;
    const buckets: Bucket[] = [];
    if (publicRule)
      buckets.push({ scope: 'ip', id: `i ${clientKey(request.head.remoteAddress)}`, rule: publicRule });
    if (keyRule)
      buckets.push({ scope: 'key', id: keyBucketId(request.apiKey as ApiKeyRecord, keyRule), rule: keyRule });
    if (projectRule)
      buckets.push({ scope: 'project', id: this.#projectBucketId(project, projectRule), rule: projectRule });
    if (fn.rateLimit)
      buckets.push({
        scope: 'function',
        id: functionBucketId(fn, project, fn.rateLimit),
        rule: fn.rateLimit,
      });
    return buckets;
  }

  #projectBucketId(project: string, rule: RateLimit): string {
    const known = this.#projectIds.get(project);
    if (known?.rule === rule) return known.id;
    const id = `p ${project} ${ruleText(rule)}`;
    this.#projectIds.set(project, { rule, id });
    return id;
  }

  take(buckets: readonly Bucket[]): RateDecision | Promise<RateDecision> {
    return this.#buckets.take(buckets);
  }
}

/*
 * Every bucket is per owner and limit: a key, function or project given a new limit starts a
 * full bucket of the new shape at once, instead of waiting out a `tat` the old, slower rate
 * pushed far ahead (a take checks the stored `tat` against the shape it is given). The old bucket
 * is left to fill up, when its entry is taken over (in Redis, when it expires).
 */

/** Bucket ids of keys' limits, made once per key record (the key cache keeps the records). */
const keyBucketIds = new WeakMap<ApiKeyRecord, string>();

/**
 * A JWT's record is `jwt:<sub>`: every token of a subject draws on one bucket
 * (FAAS_JWT_RATE_LIMIT_*).
 */
function keyBucketId(key: ApiKeyRecord, rule: RateLimit): string {
  let id = keyBucketIds.get(key);
  if (id === undefined) {
    id = `k ${key.id} ${ruleText(rule)}`;
    keyBucketIds.set(key, id);
  }
  return id;
}

/** Bucket ids of functions' limits, made once per version object (the route cache keeps them). */
const functionBucketIds = new WeakMap<FunctionVersion, string>();

/**
 * Per function and rule, not per version: a caller naming versions one by one draws on one
 * bucket (but on one per distinct rule among them).
 */
function functionBucketId(fn: FunctionVersion, project: string, rule: RateLimit): string {
  let id = functionBucketIds.get(fn);
  if (id === undefined) {
    id = `f ${project}/${fn.name} ${ruleText(rule)}`;
    functionBucketIds.set(fn, id);
  }
  return id;
}

function ruleText(rule: RateLimit): string {
  return `${rule.requestsPerSecond}/${rule.burst}`;
}

/** The IETF draft's RateLimit fields for an allowed request: the bucket nearest to refusing. */
export function rateLimitHeaders(decision: RateDecision & { allowed: true }): Record<string, string> {
  return {
    'ratelimit-limit': String(decision.bucket.rule.burst),
    'ratelimit-remaining': String(decision.remaining),
    'ratelimit-reset': String(seconds(decision.resetUs)),
  };
}

function seconds(us: bigint): number {
  return Math.ceil(Number(us) / 1_000_000);
}
