import type { IncomingHttpHeaders } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import {
  type ActiveTrace,
  type ApiKeyRecord,
  TraceAttr as Attr,
  type Bucket,
  DEFAULT_PROJECT,
  ErrorCode,
  FaasError,
  type FunctionVersion,
  isFaasError,
  type RateDecision,
  storedName,
  type Tracer,
  type VersionRef,
} from '@faas/core';
import type { InvocationService } from '../../control/invocation-service.ts';
import { rateLimited } from '../../control/rate-limits/rate-limited.ts';
import type { RouteTable } from '../../control/route-table.ts';
import { errorType, traceFrom } from '../../observability/tracing.ts';
import { actingProject } from '../../tenancy/identity.ts';
import { missingKey } from '../auth.ts';
import { isPreflight, preflightRefused } from '../cors/cors-policy.ts';
import type { ProjectCors } from '../cors/project-cors.ts';
import { projectOfStoredName, withCorsHeaders } from '../cors/response-cors.ts';
import { setErrorHeaders } from '../errors.ts';
import { httpResponse, invokeResponse } from '../invoke-response.ts';
import { httpEventOf, invokeEvent } from '../request-event.ts';
import { type HttpResponseParts, jsonParts } from '../response-parts.ts';
import { SESSION_COOKIE } from '../session/session-auth.ts';
import {
  type ApiInvoke,
  apiFunctionName,
  apiInvoke,
  asksAsync,
  type InvokeTarget,
  invokeTarget,
  type RequestHead,
  routePattern,
} from './invoke-target.ts';
import { type InvokeRateLimits, rateLimitHeaders } from './rate-limits.ts';

/** What the hooks of one invoking request share. */
export interface InvokeRequestContext {
  readonly target: InvokeTarget;
  readonly head: RequestHead;
  /** Set by the authentication hook. */
  apiKey?: ApiKeyRecord;
  /** An HTTP trigger's failed authentication, thrown unless the function is public. */
  authError?: unknown;
}

/**
 * A concern every invoking request goes through (authentication, rate limits, tenancy, metrics):
 * it throws a FaasError to refuse the request. It answers synchronously when it can, so a hook
 * whose answer is cached costs no turn of the event loop.
 */
export type RequestHook = (context: InvokeRequestContext) => void | Promise<void>;

/**
 * Whether the request may invoke the function it names, once that is known (a key of the
 * function's project, or a public function): it throws a FaasError to refuse it.
 */
export type FunctionAccess = (context: InvokeRequestContext, fn: FunctionVersion) => void;

/**
 * The project a request acts in as its credentials tell before they are checked (see
 * projectGuess): at once when it can be.
 */
export type ProjectGuess = (head: RequestHead) => string | Promise<string>;

export interface InvokePipelineOptions {
  invocations: InvocationService;
  /** Declared HTTP routes. */
  routes: RouteTable;
  /** In order; none configured costs nothing. */
  hooks: RequestHook[];
  /** Absent when auth is off: every function answers everyone. */
  access?: FunctionAccess;
  /** Absent when auth is off: every name is the default project's. */
  guessProject?: ProjectGuess;
  /** This thread's spans; absent when tracing is off (the caller's trace id is still recorded). */
  tracing?: Tracer;
  /** Rate limits: each request asks whether one applies (a cheap check), and only then draws on buckets. */
  rateLimits?: InvokeRateLimits;
  /** Projects' CORS settings: looked at only for a request with an Origin while some project has them. */
  cors?: ProjectCors;
  /** FAAS_TRIGGER_SANDBOX: HTTP triggers answer with TRIGGER_SANDBOX. @default true */
  triggerSandbox?: boolean;
}

/** The project whose CORS settings answer a request, once known (see InvokePipeline.run). */
interface CorsRequest {
  project: string | undefined;
}

/**
 * The one way into an invocation, whatever the server (node:http on any gateway thread, or
 * Fastify): the target parsed from the request → its hooks → the invocation → the response's
 * parts. The adapters read the body and write the parts; they decide nothing.
 */
export class InvokePipeline {
  #invocations: InvocationService;
  #routes: RouteTable;
  #hooks: RequestHook[];
  #access: FunctionAccess | undefined;
  #guessProject: ProjectGuess | undefined;
  #tracing: Tracer | undefined;
  #rateLimits: InvokeRateLimits | undefined;
  #cors: ProjectCors | undefined;
  #triggerSandbox: boolean;

  constructor(options: InvokePipelineOptions) {
    this.#invocations = options.invocations;
    this.#routes = options.routes;
    this.#hooks = options.hooks;
    this.#access = options.access;
    this.#guessProject = options.guessProject;
    this.#tracing = options.tracing;
    this.#rateLimits = options.rateLimits;
    this.#cors = options.cors;
    this.#triggerSandbox = options.triggerSandbox ?? true;
  }

  /**
   * The trace of a request this thread serves, started before its hooks: with tracing on, its
   * server span (under the caller's `traceparent`, or a new trace); off, only the caller's
   * trace id, or undefined. The adapter writes `traceparent` on the response when there is a
   * span, and ends it with `endTrace`.
   */
  startTrace(target: InvokeTarget, head: RequestHead): ActiveTrace | undefined {
    const { headers } = head;
    const tracing = this.#tracing;
    if (!tracing)
      return headers.traceparent === undefined
        ? undefined
        : traceFrom(undefined, headers.traceparent, undefined, '', 'server');
    const route = routePattern(target, head);
    return traceFrom(tracing, headers.traceparent, headers.tracestate, `${head.method} ${route}`, 'server', {
      [Attr.httpMethod]: head.method,
      [Attr.httpRoute]: route,
      [Attr.trigger]: target.kind === 'http' ? 'http' : 'other',
    });
  }

  /** Ends a request's server span with the status answered (and the error, for a refusal). */
  endTrace(trace: ActiveTrace | undefined, status: number, error?: unknown): void {
    const span = trace?.span;
    if (!span) return;
    span.setAttributes({ [Attr.httpStatus]: status });
    // A refusal (4xx) is the client's: named, but the span is not failed (HTTP conventions).
    if (error !== undefined && status < 500) span.setAttributes({ [Attr.errorType]: errorType(error) });
    span.end(status >= 500 ? (error ?? `HTTP ${status}`) : undefined);
  }

  target(head: RequestHead): InvokeTarget | undefined {
    return invokeTarget(head, this.#routes);
  }

  /**
   * The version a sync target runs, for a thread deciding whether it runs the function itself:
   * at once from the catalog's cache when it can be. undefined for async invokes and for what the
   * pipeline will refuse (it refuses it after the hooks).
   */
  syncFunction(
    target: InvokeTarget,
    head: RequestHead,
  ): FunctionVersion | undefined | Promise<FunctionVersion | undefined> {
    let name: string;
    let ref: VersionRef;
    if (target.kind === 'http') {
      if (target.declared) return this.#syncVersion(target.name, 'latest');
      name = target.name;
      ref = 'latest';
    } else {
      let invoke: ApiInvoke;
      try {
        invoke = apiInvoke(target, head);
      } catch {
        return undefined;
      }
      if (invoke.async) return undefined;
      name = invoke.name;
      ref = invoke.ref;
    }
    const project = this.#guessProject ? this.#guessProject(head) : DEFAULT_PROJECT;
    if (typeof project === 'string') return this.#syncVersion(storedName(project, name), ref);
    return project.then((p) => this.#syncVersion(storedName(p, name), ref));
  }

  #syncVersion(
    stored: string,
    ref: VersionRef,
  ): FunctionVersion | undefined | Promise<FunctionVersion | undefined> {
    return (
      this.#invocations.resolveCached(stored, ref) ??
      this.#resolve(stored, ref, undefined).catch(() => undefined)
    );
  }

  /**
   * Serves an invoking request whose body was read (undefined: none).
   * @throws FaasError for whatever refuses it; the adapter answers with errorResponse.
   */
  run(
    target: InvokeTarget,
    head: RequestHead,
    body: Buffer | undefined,
    trace?: ActiveTrace,
  ): Promise<HttpResponseParts> {
    const origin = this.#cors?.active === true ? head.headers.origin : undefined;
    if (origin === undefined) return this.#serve(target, head, body, trace, undefined);
    return this.#serveCors(origin, target, head, body, trace);
  }

  /**
   * A request with an Origin while some project has CORS settings. Whose settings answer: an HTTP
   * trigger's, the project of the function (known from the URL for a declared route and for
   * `/fn/{project}.{name}`; else once the caller's key is checked); the API's invoke, the project
   * the caller's key acts in. A preflight carries no credentials: `/fn/{name}` is the default
   * project's then, as without a key. Without settings for that project, nothing changes.
   */
  async #serveCors(
    origin: string,
    target: InvokeTarget,
    head: RequestHead,
    body: Buffer | undefined,
    trace: ActiveTrace | undefined,
  ): Promise<HttpResponseParts> {
    const cors = this.#cors as ProjectCors;
    const state: CorsRequest = { project: undefined };
    if (target.kind === 'http') {
      if (target.declared || target.name.includes('.')) state.project = projectOfStoredName(target.name);
      if (isPreflight(head.method, head.headers)) {
        const policy = cors.of(state.project ?? DEFAULT_PROJECT);
        if (policy) {
          const answer = policy.preflight(
            origin,
            head.headers['access-control-request-method'] as string,
            headerText(head.headers['access-control-request-headers']),
            true,
          );
          if ('headers' in answer) return { status: 204, headers: answer.headers, body: undefined };
          const refused = preflightRefused(answer.refused);
          setErrorHeaders(refused, { vary: 'Origin' });
          throw refused;
        }
      }
    }
    const credentials = target.kind === 'http';
    try {
      const parts = await this.#serve(target, head, body, trace, state);
      const policy = state.project === undefined ? undefined : cors.of(state.project);
      return policy ? withCorsHeaders(parts, policy.responseHeaders(origin, credentials)) : parts;
    } catch (err) {
      const policy = state.project === undefined ? undefined : cors.of(state.project);
      // A copy carries this request's headers: an error object may be thrown to more than one
      // request. Anything but a FaasError is a 500, answered without them.
      if (!policy || !isFaasError(err)) throw err;
      const answer = new FaasError(err.code, err.message, {
        status: err.status,
        details: err.details,
        cause: err,
      });
      setErrorHeaders(answer, policy.responseHeaders(origin, credentials));
      throw answer;
    }
  }

  async #serve(
    target: InvokeTarget,
    head: RequestHead,
    body: Buffer | undefined,
    trace: ActiveTrace | undefined,
    cors: CorsRequest | undefined,
  ): Promise<HttpResponseParts> {
    let context: InvokeRequestContext | undefined;
    if (this.#hooks.length > 0 || this.#access) {
      context = { target, head };
      const auth = trace?.span ? this.#tracing?.child(trace, 'faas.auth').span : undefined;
      try {
        for (const hook of this.#hooks) {
          const pending = hook(context);
          if (pending) await pending;
        }
      } catch (err) {
        auth?.end(err);
        throw err;
      }
      if (context.apiKey) head.keyId = context.apiKey.id;
      auth?.end(context.authError);
    }
    const invocations = this.#invocations;
    const access = this.#access;
    // Names are the acting project's (two projects may each have `hello`), checked key and all.
    const project = access ? actingProject(context?.apiKey, head.headers) : DEFAULT_PROJECT;
    if (cors)
      cors.project = target.kind === 'http' ? projectOfStoredName(storedNameOf(target, project)) : project;
    if (target.kind === 'http') {
      const name = storedNameOf(target, project);
      let fn = invocations.resolveCached(name, 'latest');
      if (!fn) {
        try {
          fn = await this.#resolve(name, 'latest', undefined);
        } catch (err) {
          // Without a key, an absent function and a private one answer alike: names leak nothing.
          if (access && !context?.apiKey && isFaasError(err) && err.code === ErrorCode.FUNCTION_NOT_FOUND) {
            throw context?.authError ?? missingKey();
          }
          throw err;
        }
      }
      if (access) access(context as InvokeRequestContext, fn);
      const limit = this.#rateLimits && this.#limit(context ?? { target, head }, fn, 'http', 'sync', trace);
      const readEvent = () =>
        httpEventOf(
          {
            method: head.method,
            query: parseQuery(target.query) as Record<string, string | string[]>,
            // The platform's key proved access to a private function: the function never sees it
            // (a function of a project could otherwise collect its callers' keys, an admin's too).
            headers: eventHeaders(head.headers, access !== undefined && !fn.public),
            // GET and HEAD bodies are not read, as routers do.
            body: head.method === 'GET' || head.method === 'HEAD' ? undefined : body,
          },
          target.path,
          target.params,
        );
      const headers = limit instanceof Promise ? await limit : limit;
      const { invocation, outcome } = await invocations.invokeVersionSync(fn, readEvent, 'http', trace);
      return withHeaders(httpResponse(invocation, outcome, this.#triggerSandbox), headers);
    }
    let parsed: ApiInvoke;
    try {
      parsed = apiInvoke(target, head);
    } catch (err) {
      await this.#recordRefusedCall(target, head, context, project, err, trace);
      throw err;
    }
    const invoke = { ...parsed, name: storedName(project, parsed.name) };
    const readEvent = () => invokeEvent(headerText(head.headers['content-type']), body);
    const scope = access ? projectScope(context) : undefined;
    if (invoke.async) {
      let headers: Record<string, string> | undefined;
      // Checked before anything is queued (invokeAsync checks the project again as it resolves).
      if (access || this.#rateLimits) {
        const fn = await this.#resolve(invoke.name, invoke.ref, scope);
        if (access) access(context as InvokeRequestContext, fn);
        const limit = this.#rateLimits && this.#limit(context ?? { target, head }, fn, 'api', 'async', trace);
        headers = limit instanceof Promise ? await limit : limit;
      }
      const { invocation, duplicate } = await invocations.invokeAsync(
        invoke.name,
        invoke.ref,
        readEvent,
        'api',
        invoke.idempotencyKey,
        scope,
        trace,
      );
      return jsonParts(
        202,
        { invocationId: invocation.id, status: invocation.status, ...(duplicate ? { duplicate } : {}) },
        { ...headers, location: `/api/v1/invocations/${invocation.id}`, 'x-invocation-id': invocation.id },
      );
    }
    const fn =
      invocations.resolveCached(invoke.name, invoke.ref) ??
      (await this.#resolve(invoke.name, invoke.ref, scope));
    if (access) access(context as InvokeRequestContext, fn);
    const limit = this.#rateLimits && this.#limit(context ?? { target, head }, fn, 'api', 'sync', trace);
    const headers = limit instanceof Promise ? await limit : limit;
    const { invocation, outcome } = await invocations.invokeVersionSync(fn, readEvent, 'api', trace);
    return withHeaders(invokeResponse(invocation, outcome), headers);
  }

  /**
   * Draws on the buckets of the limits that apply to the request: undefined when none does (no
   * bucket is looked at), else the RateLimit headers of the answer, at once when the buckets are
   * in memory. A refusal is recorded as an invocation turned away, and thrown.
   */
  #limit(
    context: InvokeRequestContext,
    fn: FunctionVersion,
    trigger: 'api' | 'http',
    mode: 'sync' | 'async',
    trace: ActiveTrace | undefined,
  ): Record<string, string> | Promise<Record<string, string> | undefined> | undefined {
    const limits = this.#rateLimits as InvokeRateLimits;
    const decide = (decision: RateDecision): Record<string, string> => {
      if (decision.allowed) return rateLimitHeaders(decision);
      const err = rateLimited(decision);
      this.#invocations.recordRefused(fn, err, trigger, mode, trace);
      throw err;
    };
    const take = (buckets: Bucket[] | undefined) => {
      if (!buckets) return undefined;
      const decision = limits.take(buckets);
      return decision instanceof Promise ? decision.then(decide) : decide(decision);
    };
    const buckets = limits.bucketsFor(context, fn);
    return buckets instanceof Promise ? buckets.then(take) : take(buckets);
  }

  /**
   * A call refused for its version, query or headers is still an invocation asked for: recorded
   * against the latest version of the function its path names, when the caller reaches that
   * function (else the refusal alone, as for a function that does not exist).
   */
  async #recordRefusedCall(
    target: InvokeTarget & { kind: 'api' },
    head: RequestHead,
    context: InvokeRequestContext | undefined,
    project: string,
    err: unknown,
    trace: ActiveTrace | undefined,
  ): Promise<void> {
    const name = apiFunctionName(target);
    if (!isFaasError(err) || err.code !== ErrorCode.VALIDATION || name === undefined) return;
    try {
      const fn = await this.#resolve(
        storedName(project, name),
        'latest',
        this.#access && projectScope(context),
      );
      this.#access?.(context as InvokeRequestContext, fn);
      const mode = asksAsync(target, head.headers) ? 'async' : 'sync';
      this.#invocations.recordRefused(fn, err, 'api', mode, trace);
    } catch {
      // Not found, or not the caller's: the refusal is answered, and nothing recorded.
    }
  }

  #resolve(name: string, ref: VersionRef, scope: string | undefined): Promise<FunctionVersion> {
    return this.#invocations.resolveIn(name, ref, scope);
  }
}

/** An HTTP target's function as the store names it, in the acting project. */
function storedNameOf(target: InvokeTarget & { kind: 'http' }, project: string): string {
  return target.declared ? target.name : storedName(project, target.name);
}

/** The project a request's key may invoke in; undefined: every project (a platform admin). */
function projectScope(context: InvokeRequestContext | undefined): string | undefined {
  const key = context?.apiKey;
  return key && key.role !== 'admin' ? key.project : undefined;
}

/**
 * The headers a function's event gets: without the platform's key when it opened a private
 * function, without the console's session cookie (a function of any project could otherwise
 * collect a signed-in admin's session: a browser sends it to every same-site request, and to a
 * project's origins when its CORS allows credentials), and without HTTP/2's pseudo-headers
 * (`:path`…), so both protocols give one event.
 */
function eventHeaders(headers: IncomingHttpHeaders, dropKey: boolean): IncomingHttpHeaders {
  const pseudo = headers[':method'] !== undefined;
  const cookie = headers.cookie;
  const session = cookie?.includes(SESSION_COOKIE) === true;
  if (!pseudo && !session && !(dropKey && headers.authorization !== undefined)) return headers;
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name[0] === ':' || (dropKey && name === 'authorization')) continue;
    out[name] = value;
  }
  if (session) {
    const kept = (cookie as string)
      .split(';')
      .filter((pair) => pair.split('=', 1)[0]?.trim() !== SESSION_COOKIE)
      .join(';')
      .trim();
    if (kept.length > 0) out.cookie = kept;
    else delete out.cookie;
  }
  return out;
}

function withHeaders(
  parts: HttpResponseParts,
  headers: Record<string, string> | undefined,
): HttpResponseParts {
  return headers ? { ...parts, headers: { ...parts.headers, ...headers } } : parts;
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
