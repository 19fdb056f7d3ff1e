import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import { type FunctionRuntime, isFaasError } from '@faas/core';
import type { ApiKeyService } from '../control/api-key-service.ts';
import { parseFunctionRef } from '../control/function-catalog.ts';
import type { InvocationService } from '../control/invocation-service.ts';
import { RESERVED_PREFIXES, type RouteTable } from '../control/route-table.ts';
import { authenticate, authenticateCached } from './auth.ts';
import { clientAddress } from './client-address.ts';
import { errorResponse, toFaasError } from './errors.ts';
import { httpResponse, invokeResponse } from './invoke-response.ts';
import { httpEventOf, invokeEvent } from './request-event.ts';
import { writeResponse } from './response-parts.ts';

export interface FastInvokeOptions {
  auth: boolean;
  keys: ApiKeyService;
  invocations: InvocationService;
  /** The declared routes (HTTP triggers at the root). */
  routes: RouteTable;
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

const API_PREFIX = '/api/v1/functions/';
const API_SUFFIX = '/invoke';
const TRIGGER_PREFIX = '/fn/';
/** nameParams' maxLength and the router's maxParamLength: longer names get the router's answer. */
const MAX_API_NAME = 80;
const MAX_TRIGGER_NAME = 256;
/** The methods triggers.ts routes; HEAD (answered from GET by the router) is left to it. */
const TRIGGER_METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** A sync invoke through the API, or an HTTP trigger (`/fn/{name}/*` or a declared route). */
type Target =
  | { kind: 'api'; name: string; version: string | undefined }
  | { kind: 'http'; name: string; path: string; params: Record<string, string>; query: string };

/**
 * Sync invokes on node:http itself, ahead of Fastify: `POST /api/v1/functions/{name}/invoke` and
 * the HTTP triggers, with the same answers as the Fastify routes (invoke.ts, triggers.ts) for a
 * fraction of the CPU per request, which is most of what a warm invoke costs. It takes only
 * requests it understands completely (a sized body within the limit, no percent-encoding in
 * the path, for the API no query but `version` and not async); the router gets the rest.
 */
export function createFastInvoke(options: FastInvokeOptions): FastInvoke {
  const { invocations, keys } = options;
  const respond = options.respond ?? ((write: () => void) => write());
  return (req, res, pass) => {
    if (!hasSizedBody(req, options.bodyLimitBytes)) return false;
    const target = apiTarget(req) ?? triggerTarget(req, options.routes);
    if (!target) return false;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      const served = target.kind === 'api' ? invoke(target, body) : trigger(target, body);
      served.catch((err: unknown) => respond(() => sendError(res, err, options.logger)));
    });
    return true;

    async function invoke(t: Target & { kind: 'api' }, body: Buffer): Promise<void> {
      // From the caches when they have it: a warm invoke waits on nothing before its function.
      const authorization = req.headers.authorization;
      if (options.auth && !authenticateCached(keys, authorization))
        await authenticate(keys, authorization, clientAddress(req));
      const { name, ref } = parseFunctionRef(t.name, t.version);
      const fn = invocations.resolveCached(name, ref) ?? (await invocations.resolve(name, ref));
      if (!options.runsHere(fn.runtime)) return pass(req, res, body);
      const readEvent = () => invokeEvent(req.headers['content-type'], body);
      const { invocation, outcome } = await invocations.invokeVersionSync(fn, readEvent, 'api');
      const parts = invokeResponse(invocation, outcome);
      respond(() => writeResponse(res, parts));
    }

    async function trigger(t: Target & { kind: 'http' }, body: Buffer): Promise<void> {
      const fn = invocations.resolveCached(t.name, 'latest') ?? (await invocations.resolve(t.name, 'latest'));
      if (!options.runsHere(fn.runtime)) return pass(req, res, body);
      const method = req.method as string;
      const readEvent = () =>
        httpEventOf(
          {
            method,
            query: parseQuery(t.query) as Record<string, string | string[]>,
            headers: req.headers,
            // As the router: GET bodies are not read.
            body: method === 'GET' ? undefined : body,
          },
          t.path,
          t.params,
        );
      const { invocation, outcome } = await invocations.invokeVersionSync(fn, readEvent, 'http');
      const parts = httpResponse(invocation, outcome);
      respond(() => writeResponse(res, parts));
    }
  };
}

function hasSizedBody(req: IncomingMessage, bodyLimit: number): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return false;
  const header = req.headers['content-length'];
  if (header === undefined) return true;
  const length = Number(header);
  return Number.isInteger(length) && length >= 0 && length <= bodyLimit;
}

function apiTarget(req: IncomingMessage): Target | undefined {
  const url = req.url as string;
  if (req.method !== 'POST' || !url.startsWith(API_PREFIX)) return undefined;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (!path.endsWith(API_SUFFIX)) return undefined;
  const raw = path.slice(API_PREFIX.length, path.length - API_SUFFIX.length);
  if (raw.length === 0 || raw.length > MAX_API_NAME || raw.includes('/') || raw.includes('%'))
    return undefined;
  if (req.headers['x-invocation-type'] !== undefined) return undefined;
  let version: string | undefined;
  if (q >= 0) {
    const query = url.slice(q + 1);
    if (!query.startsWith('version=') || query.includes('&')) return undefined;
    version = query.slice('version='.length);
    if (!/^([1-9][0-9]*|latest)$/.test(version)) return undefined;
  }
  return { kind: 'api', name: raw, version };
}

function triggerTarget(req: IncomingMessage, routes: RouteTable): Target | undefined {
  const method = req.method as string;
  if (!TRIGGER_METHODS.has(method)) return undefined;
  const url = req.url as string;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  if (path.includes('%')) return undefined;
  if (path.startsWith(TRIGGER_PREFIX)) {
    const slash = path.indexOf('/', TRIGGER_PREFIX.length);
    const name = path.slice(TRIGGER_PREFIX.length, slash < 0 ? undefined : slash);
    if (name.length === 0 || name.length > MAX_TRIGGER_NAME) return undefined;
    const rest = slash < 0 ? '' : path.slice(slash + 1);
    if (rest.startsWith('/')) return undefined;
    return { kind: 'http', name, path: `/${rest}`, params: {}, query };
  }
  if (RESERVED_PREFIXES.some((p) => path.startsWith(p))) return undefined;
  const match = routes.match(method, path);
  if (!match) return undefined;
  return { kind: 'http', name: match.functionName, path, params: match.params, query };
}

/** As the router's error handler answers (errors.ts). */
function sendError(res: ServerResponse, err: unknown, logger: Pick<Console, 'error'>): void {
  const faas = toFaasError(err);
  if (faas.status >= 500 && !isFaasError(err)) logger.error('unhandled error in a fast invoke', err);
  if (res.headersSent) res.destroy();
  else writeResponse(res, errorResponse(faas));
}
