import { parse as parseQuery } from 'node:querystring';
import type { ApiKeyRecord, FunctionVersion, VersionRef } from '@faas/core';
import type { InvocationService } from '../../control/invocation-service.ts';
import type { RouteTable } from '../../control/route-table.ts';
import { httpResponse, invokeResponse } from '../invoke-response.ts';
import { httpEventOf, invokeEvent } from '../request-event.ts';
import { type HttpResponseParts, jsonParts } from '../response-parts.ts';
import {
  type ApiInvoke,
  apiInvoke,
  type InvokeTarget,
  invokeTarget,
  type RequestHead,
} from './invoke-target.ts';

/** What the hooks of one invoking request share. */
export interface InvokeRequestContext {
  readonly target: InvokeTarget;
  readonly head: RequestHead;
  /** Set by the authentication hook. */
  apiKey?: ApiKeyRecord;
}

/**
 * A concern every invoking request goes through (authentication, rate limits, tenancy, metrics):
 * it throws a FaasError to refuse the request. It answers synchronously when it can, so a hook
 * whose answer is cached costs no turn of the event loop.
 */
export type RequestHook = (context: InvokeRequestContext) => void | Promise<void>;

export interface InvokePipelineOptions {
  invocations: InvocationService;
  /** Declared HTTP routes. */
  routes: RouteTable;
  /** In order; none configured costs nothing. */
  hooks: RequestHook[];
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

  constructor(options: InvokePipelineOptions) {
    this.#invocations = options.invocations;
    this.#routes = options.routes;
    this.#hooks = options.hooks;
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
      name = target.name;
      ref = 'latest';
    } else {
      let invoke: ApiInvoke;
      try {
        invoke = apiInvoke(target, head.headers);
      } catch {
        return undefined;
      }
      if (invoke.async) return undefined;
      name = invoke.name;
      ref = invoke.ref;
    }
    return this.#invocations.resolveCached(name, ref) ?? this.#resolve(name, ref).catch(() => undefined);
  }

  /**
   * Serves an invoking request whose body was read (undefined: none).
   * @throws FaasError for whatever refuses it; the adapter answers with errorResponse.
   */
  async run(target: InvokeTarget, head: RequestHead, body: Buffer | undefined): Promise<HttpResponseParts> {
    if (this.#hooks.length > 0) {
      const context: InvokeRequestContext = { target, head };
      for (const hook of this.#hooks) {
        const pending = hook(context);
        if (pending) await pending;
      }
    }
    const invocations = this.#invocations;
    if (target.kind === 'http') {
      const fn =
        invocations.resolveCached(target.name, 'latest') ?? (await this.#resolve(target.name, 'latest'));
      const readEvent = () =>
        httpEventOf(
          {
            method: head.method,
            query: parseQuery(target.query) as Record<string, string | string[]>,
            headers: head.headers,
            // GET and HEAD bodies are not read, as routers do.
            body: head.method === 'GET' || head.method === 'HEAD' ? undefined : body,
          },
          target.path,
          target.params,
        );
      const { invocation, outcome } = await invocations.invokeVersionSync(fn, readEvent, 'http');
      return httpResponse(invocation, outcome);
    }
    const invoke = apiInvoke(target, head.headers);
    const readEvent = () => invokeEvent(headerText(head.headers['content-type']), body);
    if (invoke.async) {
      const { invocation, duplicate } = await invocations.invokeAsync(
        invoke.name,
        invoke.ref,
        readEvent,
        'api',
        invoke.idempotencyKey,
      );
      return jsonParts(
        202,
        { invocationId: invocation.id, status: invocation.status, ...(duplicate ? { duplicate } : {}) },
        { location: `/api/v1/invocations/${invocation.id}`, 'x-invocation-id': invocation.id },
      );
    }
    const fn =
      invocations.resolveCached(invoke.name, invoke.ref) ?? (await this.#resolve(invoke.name, invoke.ref));
    const { invocation, outcome } = await invocations.invokeVersionSync(fn, readEvent, 'api');
    return invokeResponse(invocation, outcome);
  }

  #resolve(name: string, ref: VersionRef): Promise<FunctionVersion> {
    return this.#invocations.resolve(name, ref);
  }
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
