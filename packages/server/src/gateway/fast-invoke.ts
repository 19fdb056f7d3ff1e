import type { IncomingMessage, ServerResponse } from 'node:http';
import { type FunctionRuntime, isFaasError } from '@faas/core';
import type { ApiKeyService } from '../control/api-key-service.ts';
import { parseFunctionRef } from '../control/function-catalog.ts';
import type { InvocationService } from '../control/invocation-service.ts';
import { authenticate } from './auth.ts';
import { toFaasError } from './errors.ts';
import { outcomeError } from './invoke-response.ts';
import { invokeEvent } from './request-event.ts';

export interface FastInvokeOptions {
  auth: boolean;
  keys: ApiKeyService;
  invocations: InvocationService;
  bodyLimitBytes: number;
  /** Whether this thread runs the function kind; when not, the request is passed on with its body. */
  runsHere: (runtime: FunctionRuntime) => boolean;
  logger: Pick<Console, 'error'>;
  /**
   * Writes a response; a gateway thread defers the writes to after it has posted the
   * invocations' records (see gateway-thread.ts). @default writes at once
   */
  respond?: (write: () => void) => void;
}

/** Handles a request or leaves it untouched (false); `pass` takes over one it read the body of. */
export type FastInvoke = (
  req: IncomingMessage,
  res: ServerResponse,
  pass: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void,
) => boolean;

const PREFIX = '/api/v1/functions/';
const SUFFIX = '/invoke';
/** nameParams' maxLength: longer names get the router's answer. */
const MAX_NAME = 80;

/**
 * The sync invoke (`POST /api/v1/functions/{name}/invoke`) on node:http itself, ahead of Fastify:
 * the same answers as the Fastify route (invoke.ts), for a fraction of the CPU per request, which
 * is most of what a warm invoke costs. It takes only requests it understands completely: a
 * sized body within the limit, no query but `version`, not async; the router gets the rest.
 */
export function createFastInvoke(options: FastInvokeOptions): FastInvoke {
  const { invocations, keys } = options;
  const respond = options.respond ?? ((write: () => void) => write());
  return (req, res, pass) => {
    const target = parseTarget(req, options.bodyLimitBytes);
    if (!target) return false;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      serve(target, body).catch((err: unknown) => respond(() => sendError(res, err, options.logger)));
    });
    return true;

    async function serve(t: Target, body: Buffer): Promise<void> {
      if (options.auth) await authenticate(keys, req.headers.authorization);
      const { name, ref } = parseFunctionRef(t.name, t.version);
      const fn = await invocations.resolve(name, ref);
      if (!options.runsHere(fn.runtime)) return pass(req, res, body);
      const readEvent = () => invokeEvent(req.headers['content-type'], body);
      const { invocation, outcome } = await invocations.invokeSync(name, ref, readEvent, 'api');
      const headers: Record<string, string> = {
        'x-invocation-id': invocation.id,
        'x-function-version': String(invocation.version),
      };
      if (invocation.durationMs !== undefined) headers['x-duration-ms'] = invocation.durationMs.toFixed(3);
      const error = outcomeError(invocation, outcome);
      if (error) return respond(() => sendJson(res, error.status, JSON.stringify(error.toJSON()), headers));
      const result = outcome.status === 'succeeded' ? outcome.result : undefined;
      const json = JSON.stringify(result ?? null);
      respond(() => sendJson(res, 200, json, headers));
    }
  };
}

interface Target {
  name: string;
  version: string | undefined;
}

function parseTarget(req: IncomingMessage, bodyLimit: number): Target | undefined {
  const url = req.url;
  if (req.method !== 'POST' || !url?.startsWith(PREFIX)) return undefined;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (!path.endsWith(SUFFIX)) return undefined;
  const raw = path.slice(PREFIX.length, path.length - SUFFIX.length);
  if (raw.length === 0 || raw.includes('/') || raw.includes('%')) return undefined;
  if (raw.length > MAX_NAME) return undefined;
  let version: string | undefined;
  if (q >= 0) {
    const query = url.slice(q + 1);
    if (!query.startsWith('version=') || query.includes('&')) return undefined;
    version = query.slice('version='.length);
    if (!/^([1-9][0-9]*|latest)$/.test(version)) return undefined;
  }
  const length = Number(req.headers['content-length']);
  if (!Number.isInteger(length) || length < 0 || length > bodyLimit) return undefined;
  if (req.headers['transfer-encoding'] !== undefined) return undefined;
  if (req.headers['x-invocation-type'] !== undefined) return undefined;
  return { name: raw, version };
}

function sendJson(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) {
  headers['content-type'] = 'application/json; charset=utf-8';
  headers['content-length'] = String(Buffer.byteLength(body));
  res.writeHead(status, headers);
  res.end(body);
}

/** As the router's error handler answers (errors.ts). */
function sendError(res: ServerResponse, err: unknown, logger: Pick<Console, 'error'>): void {
  const faas = toFaasError(err);
  if (faas.status >= 500 && !isFaasError(err)) logger.error('unhandled error in a fast invoke', err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(
    res,
    faas.status,
    JSON.stringify(faas.toJSON()),
    faas.status === 429 ? { 'retry-after': '1' } : {},
  );
}
