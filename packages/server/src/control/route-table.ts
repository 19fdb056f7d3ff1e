import { type RouteRecord, requestHost, routeShape } from '@faas/core';

export interface RouteMatch {
  functionName: string;
  params: Record<string, string>;
  /** The route as declared, e.g. `GET /users/:id`. */
  route: string;
}

interface PatternRoute {
  method: string;
  segments: string[];
  /** Ends in `*`: matches any rest of the path, exposed as params['*']. */
  wildcard: boolean;
  functionName: string;
  route: string;
}

/**
 * Paths the gateway serves itself: a declared route may not shadow them. `/internal/` is a
 * worker's API for its gateways: a route there would receive their calls and the cluster secret.
 */
export const RESERVED_PREFIXES = [
  '/api/',
  '/fn/',
  '/internal/',
  '/docs',
  '/health',
  '/ready',
  '/metrics',
  '/console',
];

/**
 * The in-memory table of declared routes (seed 000's KV: `METHOD:path` → function), rebuilt from
 * the store whenever routes change. Routes of a project with a host name answer requests with
 * that Host alone; the others, every other request. Without any host the Host header is not
 * even read.
 */
export class RouteTable {
  #shared = new HostRoutes([]);
  #byHost = new Map<string, HostRoutes>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Replaces the whole table atomically: lookups never see a half-built table. */
  replace(routes: RouteRecord[]): void {
    const shared: RouteRecord[] = [];
    const hosted = new Map<string, RouteRecord[]>();
    for (const r of routes) {
      if (r.host === undefined) shared.push(r);
      else hosted.set(r.host, [...(hosted.get(r.host) ?? []), r]);
    }
    const byHost = new Map<string, HostRoutes>();
    for (const [host, list] of hosted) byHost.set(host, new HostRoutes(list));
    this.#shared = new HostRoutes(shared);
    this.#byHost = byHost;
    this.#size = routes.length;
  }

  /** @param host the request's Host header: a project's host serves that project's routes only. */
  match(method: string, path: string, host?: string): RouteMatch | undefined {
    if (this.#byHost.size > 0) {
      const own = this.#byHost.get(requestHost(host) ?? '');
      if (own) return own.match(method, path);
    }
    return this.#shared.match(method, path);
  }
}

/** The routes one Host answers: exact routes are one Map lookup; routes with `:params` or a
 * trailing `*` are tried in order of specificity after that. */
class HostRoutes {
  #exact = new Map<string, RouteMatch>();
  #patterns: PatternRoute[] = [];

  constructor(routes: RouteRecord[]) {
    const exact = new Map<string, RouteMatch>();
    const patterns: PatternRoute[] = [];
    for (const r of routes) {
      const route = `${r.method} ${r.path}`;
      const segments = splitPath(r.path);
      const wildcard = segments.at(-1) === '*';
      const dynamic = wildcard || segments.some((s) => s.startsWith(':'));
      if (!dynamic) {
        exact.set(`${r.method} ${normalizePath(r.path)}`, {
          functionName: r.functionName,
          params: {},
          route,
        });
      } else {
        patterns.push({
          method: r.method,
          segments: wildcard ? segments.slice(0, -1) : segments,
          wildcard,
          functionName: r.functionName,
          route,
        });
      }
    }
    // Static segments before params, params before wildcards, longer before shorter.
    patterns.sort((a, b) => specificity(b) - specificity(a));
    this.#exact = exact;
    this.#patterns = patterns;
  }

  match(method: string, path: string): RouteMatch | undefined {
    const normalized = normalizePath(path);
    const hit = this.#exact.get(`${method} ${normalized}`) ?? this.#exact.get(`ANY ${normalized}`);
    if (hit) return hit;
    if (this.#patterns.length === 0) return undefined;
    const parts = splitPath(normalized);
    for (const p of this.#patterns) {
      if (p.method !== method && p.method !== 'ANY') continue;
      const params = matchSegments(p, parts);
      if (params) return { functionName: p.functionName, params, route: p.route };
    }
    return undefined;
  }
}

function matchSegments(p: PatternRoute, parts: string[]): Record<string, string> | undefined {
  if (p.wildcard ? parts.length < p.segments.length : parts.length !== p.segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.segments.length; i++) {
    const seg = p.segments[i] as string;
    const part = parts[i] as string;
    if (seg.startsWith(':')) params[seg.slice(1)] = safeDecode(part);
    else if (seg !== part) return undefined;
  }
  if (p.wildcard) params['*'] = parts.slice(p.segments.length).map(safeDecode).join('/');
  return params;
}

function specificity(p: PatternRoute): number {
  let score = p.segments.length * 4;
  for (const s of p.segments) if (!s.startsWith(':')) score += 2;
  return p.wildcard ? score - 1 : score;
}

function splitPath(path: string): string[] {
  return path.split('/').filter((s) => s.length > 0);
}

function normalizePath(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Equal for two declared routes that match the same requests (for conflict checks). */
export function routeKey(method: string, path: string): string {
  return `${method} ${routeShape(path)}`;
}
