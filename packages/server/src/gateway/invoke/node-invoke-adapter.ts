import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ActiveTrace, type FunctionVersion, isFaasError } from '@faas/core';
import type { HttpMetrics } from '../../observability/http-metrics.ts';
import { CLIENT_CLOSED_REQUEST, invocationIdOf, type RequestLog } from '../../observability/request-log.ts';
import { clientAddress } from '../client-address.ts';
import { errorHeaders, errorResponse, toFaasError } from '../errors.ts';
import { withTraceparent, writeResponse } from '../response-parts.ts';
import { usesSession } from '../session/session-auth.ts';
import type { InvokePipeline } from './invoke-pipeline.ts';
import { type InvokeTarget, type RequestHead, routePattern, wantsAsync } from './invoke-target.ts';
import { readBody } from './request-body.ts';

export interface NodeInvokeAdapterOptions {
  pipeline: InvokePipeline;
  bodyLimitBytes: number;
  logger: Pick<Console, 'error'>;
  /** Counts the requests this adapter answers (not those it passes on: they are counted where served). */
  metrics?: HttpMetrics;
  /** Logs the requests this adapter answers, as `metrics` counts them. */
  log?: RequestLog;
  /**
   * On a gateway thread: whether this thread runs the function; when not (a container function,
   * an async invoke, which needs the queue), `pass` hands the request and its body to the main
   * thread, whose own adapter serves it (hooks included: they run once, where it is served).
   */
  thread?: {
    runsHere: (fn: FunctionVersion) => boolean;
    pass: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;
    /** Writes a response once this thread's invocation records have left (gateway-thread.ts). */
    respond: (write: () => void) => void;
  };
}

/** Handles a request (true) or leaves it to the router (false). */
export type NodeInvokeAdapter = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * The invoke pipeline on node:http, ahead of Fastify, on every gateway thread: it takes every
 * request the pipeline recognises as an invoke and leaves the rest to the router. A warm invoke
 * costs a fraction of what it costs through the router.
 */
export function nodeInvokeAdapter(options: NodeInvokeAdapterOptions): NodeInvokeAdapter {
  const { pipeline, bodyLimitBytes, logger, thread, metrics, log } = options;
  const respond = thread?.respond ?? ((write: () => void) => write());
  const observe =
    metrics || log
      ? (
          target: InvokeTarget,
          head: RequestHead,
          started: number,
          status: number,
          invocationId?: string,
          traceId?: string,
        ) => {
          const route = routePattern(target, head);
          const ms = performance.now() - started;
          metrics?.observe(head.method, route, status, ms / 1000);
          log?.write({
            method: head.method,
            route,
            status,
            durationMs: ms,
            keyId: head.keyId,
            invocationId,
            traceId,
          });
        }
      : undefined;
  const fail = (
    res: ServerResponse,
    err: unknown,
    target: InvokeTarget,
    head: RequestHead,
    started: number,
    trace?: ActiveTrace,
  ) =>
    respond(() => {
      const status = sendError(res, err, logger, trace);
      observe?.(target, head, started, status, undefined, trace?.traceId);
      pipeline.endTrace(trace, status, err);
    });

  const serve = (
    res: ServerResponse,
    target: InvokeTarget,
    head: RequestHead,
    body: Buffer,
    started: number,
  ) => {
    const trace = pipeline.startTrace(target, head);
    pipeline.run(target, head, body, trace).then(
      (parts) =>
        respond(() => {
          // The client left while the function ran: the answer goes nowhere, and is not logged as sent.
          const gone = connectionGone(res);
          if (gone) res.destroy();
          else writeResponse(res, withTraceparent(parts, trace));
          const status = gone ? CLIENT_CLOSED_REQUEST : res.statusCode;
          const invocationId = invocationIdOf(parts.headers['x-invocation-id']);
          observe?.(target, head, started, status, invocationId, trace?.traceId);
          pipeline.endTrace(trace, status);
        }),
      (err: unknown) => fail(res, err, target, head, started, trace),
    );
  };

  const route = (
    req: IncomingMessage,
    res: ServerResponse,
    target: InvokeTarget,
    head: RequestHead,
    body: Buffer,
    started: number,
  ) => {
    if (!thread) return serve(res, target, head, body, started);
    if (wantsAsync(target, head)) return thread.pass(req, res, body);
    // The console's sessions live in the main thread.
    if (target.kind === 'api' && usesSession(head.headers)) return thread.pass(req, res, body);
    const decide = (fn: FunctionVersion | undefined) => {
      // Unknown or refused: served here, so the answer comes after the hooks like any other.
      if (fn && !thread.runsHere(fn)) thread.pass(req, res, body);
      else serve(res, target, head, body, started);
    };
    const fn = pipeline.syncFunction(target, head);
    if (fn instanceof Promise) fn.then(decide, (err: unknown) => fail(res, err, target, head, started));
    else decide(fn);
  };

  return (req, res) => {
    const head: RequestHead = {
      method: req.method as string,
      url: req.url as string,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      remoteAddress: clientAddress(req),
    };
    const target = pipeline.target(head);
    if (!target) return false;
    const started = observe ? performance.now() : 0;
    readBody(req, bodyLimitBytes, (err, body) => {
      if (err) fail(res, err, target, head, started);
      else route(req, res, target, head, body, started);
    });
    return true;
  };
}

/**
 * As the router's error handler answers (errors.ts); the status the client got: the answer
 * already sent (http-server.ts refuses a body that is not HTTP itself), or CLIENT_CLOSED_REQUEST
 * when the connection is gone.
 */
function sendError(
  res: ServerResponse,
  err: unknown,
  logger: Pick<Console, 'error'>,
  trace: ActiveTrace | undefined,
): number {
  const faas = toFaasError(err);
  if (faas.status >= 500 && !isFaasError(err)) logger.error('unhandled error in an invoke', err);
  if (res.headersSent) {
    res.destroy();
    return res.statusCode;
  }
  if (connectionGone(res)) {
    res.destroy();
    return CLIENT_CLOSED_REQUEST;
  }
  writeResponse(res, withTraceparent(errorResponse(faas, errorHeaders(err)), trace));
  return res.statusCode;
}

/** Whether nothing can reach the client any more (HTTP/2's compatibility response has its stream's). */
function connectionGone(res: ServerResponse): boolean {
  return res.destroyed || (res as { stream?: { destroyed: boolean } }).stream?.destroyed === true;
}
