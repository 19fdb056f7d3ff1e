import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, FaasError, isFaasError } from '@faas/core';
import { CLUSTER_AUTH_HEADER } from '../cluster/wire.ts';
import type { Platform, WorkerVersions } from '../platform.ts';
import { clusterSecretCheck } from './cluster-principal.ts';
import { errorResponse, toFaasError } from './errors.ts';
import { drain, readBody } from './invoke/request-body.ts';
import { type HttpResponseParts, jsonParts, writeResponse } from './response-parts.ts';
import {
  INTERNAL_INVOKE_PATH,
  internalBodyLimit,
  internalInvoke,
  notStartedHeaders,
  notTheClusterSecret,
} from './routes/internal.ts';

/**
 * A worker's container calls from its gateways, served on node:http ahead of the router, as the
 * user API's invokes are (invoke/node-invoke-adapter.ts): Fastify's routing, hooks and body
 * parsing cost ~0.3–0.6 ms of each call on the gateway → worker hop on this project's loaded
 * 2-core machine (bench section 11). The same checks and answers as the route in
 * routes/internal.ts, which serves what this leaves (another method, a body not JSON).
 */
export function internalInvokeAdapter(
  platform: Platform,
  secret: string,
  versions: WorkerVersions,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const authorized = clusterSecretCheck(secret);
  const bodyLimit = internalBodyLimit(platform.config.bodyLimitBytes);
  const { http, requests } = platform.observability;
  return (req, res) => {
    if (req.method !== 'POST' || req.url !== INTERNAL_INVOKE_PATH) return false;
    if (!req.headers['content-type']?.startsWith('application/json')) return false;
    const started = performance.now();
    const answer = (parts: HttpResponseParts, invocationId?: string) => {
      writeResponse(res, parts);
      const durationMs = performance.now() - started;
      http.observe('POST', INTERNAL_INVOKE_PATH, parts.status, durationMs / 1000);
      requests.write({
        method: 'POST',
        route: INTERNAL_INVOKE_PATH,
        status: parts.status,
        durationMs,
        invocationId,
      });
    };
    if (!authorized(req.headers[CLUSTER_AUTH_HEADER])) {
      drain(req, 0, () => answer(errorResponse(notTheClusterSecret())));
      return true;
    }
    readBody(req, bodyLimit, (err, body) => {
      if (err) return answer(errorResponse(toFaasError(err)));
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        return answer(
          errorResponse(new FaasError(ErrorCode.INVALID_JSON, 'The request body is not valid JSON')),
        );
      }
      // The gateway hung up (its caller went away, or it died): the function is stopped. The
      // response's close, not the request's: a request closes once its body was read.
      const aborter = new AbortController();
      res.once('close', () => {
        if (!res.writableFinished) aborter.abort(new Error('the gateway hung up'));
      });
      const invocationId = (parsed as { invocationId?: unknown } | null)?.invocationId;
      internalInvoke(platform, versions, parsed, aborter.signal).then(
        (result) =>
          answer(jsonParts(200, result), typeof invocationId === 'string' ? invocationId : undefined),
        (error: unknown) => {
          // Anything but a FaasError is a bug of ours: logged, and a 500 as the router makes it.
          if (!isFaasError(error)) console.error(`internal invoke ${String(invocationId)} failed`, error);
          answer(errorResponse(toFaasError(error), notStartedHeaders(error)));
        },
      );
    });
    return true;
  };
}
