/**
 * Which runtime runs a function. `js`/`ts` run in V8 isolates, `wasm` (a WASI preview 1 module)
 * in the wasm runtime's worker threads; the rest in containers (`go` compiled at deploy).
 */
export const FUNCTION_RUNTIMES = ['js', 'ts', 'node', 'python', 'go', 'image', 'wasm'] as const;
export type FunctionRuntime = (typeof FUNCTION_RUNTIMES)[number];

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** A declared HTTP route, served at the gateway root: `GET /users/:id`. `ANY` matches every method. */
export interface RouteSpec {
  method: HttpMethod | 'ANY';
  /** Starts with `/`; segments may be `:param`; a final `*` matches the rest. */
  path: string;
}

/**
 * What requests a route path matches, whatever its parameters are named and with or without a
 * trailing slash: `/users/:id` and `/users/:uid/` are both `/users/:`. Two routes with one shape
 * and the same method (or `ANY` on either side) match the same requests, so only one of them
 * could ever be reached: the second is a conflict.
 */
export function routeShape(path: string): string {
  const segments = path.split('/').filter((s) => s.length > 0);
  return `/${segments.map((s) => (s.startsWith(':') ? ':' : s)).join('/')}`;
}

/**
 * Whether some request matches both routes: their methods meet (equal, or `ANY` on either side)
 * and some path matches both paths. Segment by segment a parameter matches any one segment and a
 * static segment only itself; a final `*` matches any rest, none included. Routes of different
 * projects answered from one table must not overlap: the more specific one would take requests
 * meant for the other (its key in the `Authorization` header, for one).
 */
export function routesOverlap(a: RouteSpec, b: RouteSpec): boolean {
  if (a.method !== b.method && a.method !== 'ANY' && b.method !== 'ANY') return false;
  const pa = routeSegments(a.path);
  const pb = routeSegments(b.path);
  if (!pa.wildcard && !pb.wildcard && pa.segments.length !== pb.segments.length) return false;
  // A path both match is as long as the longer fixed part: the other needs its `*` to reach it.
  if (pa.segments.length < pb.segments.length && !pa.wildcard) return false;
  if (pb.segments.length < pa.segments.length && !pb.wildcard) return false;
  const common = Math.min(pa.segments.length, pb.segments.length);
  for (let i = 0; i < common; i++) {
    const x = pa.segments[i] as string;
    const y = pb.segments[i] as string;
    if (!x.startsWith(':') && !y.startsWith(':') && x !== y) return false;
  }
  return true;
}

function routeSegments(path: string): { segments: string[]; wildcard: boolean } {
  const segments = path.split('/').filter((s) => s.length > 0);
  const wildcard = segments.at(-1) === '*';
  return { segments: wildcard ? segments.slice(0, -1) : segments, wildcard };
}

/** Defaults for a function's limits. */
export const FUNCTION_DEFAULTS = {
  timeoutMs: 30_000,
  memoryMb: 128,
  maxConcurrency: 32,
  maxRetries: 2,
} as const;

export const FUNCTION_LIMITS = {
  /** Cron schedules per function. */
  schedules: { max: 16 },
  timeoutMs: { min: 10, max: 15 * 60_000 },
  memoryMb: { min: 8, max: 8192 },
  maxConcurrency: { min: 1, max: 10_000 },
  maxRetries: { min: 0, max: 20 },
  /** A rate limit's refill (fractions allowed: 0.5 is one request every 2 s) and burst. */
  rateLimit: { requestsPerSecond: { min: 0.001, max: 1_000_000 }, burst: { min: 1, max: 1_000_000 } },
  /**
   * `env`, in UTF-8 bytes of `NAME=value`: each entry, and all of them together.
   * A process gets its env through exec, where Linux takes at most 128 KiB per string and the
   * arguments and env together share ARG_MAX (2 MiB by default), the payload of an image function
   * (up to 100 KiB) included.
   */
  env: { entryBytes: 64 * 1024, totalBytes: 256 * 1024 },
} as const;

/**
 * The least `memoryMb` of a function run in a container: its agent (an image's shim) has to start
 * within it, or the container dies before it can load anything. Measured at start, under runc and
 * gVisor (which counts its own kernel too): a node agent near 24 and 43 MB, python 19 and 38, go
 * 9 and 27, an image's shim a few. `js`, `ts` and `wasm` keep `FUNCTION_LIMITS.memoryMb.min`.
 */
export const CONTAINER_MEMORY_MIN_MB = { node: 64, python: 64, go: 48, image: 32 } as const;

/**
 * A token bucket: `burst` requests at once, refilled at `requestsPerSecond`; past it 429
 * `FAAS_ERR_RATE_LIMITED` (docs/rate-limits.md).
 * @example { "requestsPerSecond": 5, "burst": 5 }
 */
export interface RateLimit {
  requestsPerSecond: number;
  burst: number;
}

/**
 * Everything about a function that a version freezes, except its code.
 * A change to any field, or to the code, makes a new version.
 */
export interface FunctionConfig {
  runtime: FunctionRuntime;
  /**
   * Entry file and export, `file.export`: `index.default`, `src/api.handler`, `main.handler`.
   * The file's extension is found at deploy.
   * @default `index.default` (js/ts/node), `main.handler` (python), `main._start` (wasm: `main.wasm`'s `_start`)
   */
  handler: string;
  env: Record<string, string>;
  /** Wall-clock limit of one attempt. @default 30000 */
  timeoutMs: number;
  /** Memory limit of one isolate or container. @default 128 */
  memoryMb: number;
  /** Invocations running at once per function; past it they wait briefly, then get 429. @default 32 */
  maxConcurrency: number;
  /** Retries of a failed async invocation before it is dead-lettered. @default 2 */
  maxRetries: number;
  routes: RouteSpec[];
  description: string;
  /** `image` runtime: the local image to run. */
  image?: string;
  /** `image` runtime: the command to run in it; a string runs with the image's `/bin/sh -c`, an argv's first word is found on its PATH. */
  command?: string | string[];
  /** Container runtimes: `runc` (default) or `gvisor`. */
  isolation?: 'runc' | 'gvisor';
  /** Container runtimes: allow outbound network. @default false */
  network?: boolean;
  /**
   * HTTP triggers (`/fn/{name}`, declared routes) answer anyone, without a key (as a Lambda
   * function URL with auth type NONE). @default false: a key of the function's project is needed.
   */
  public?: boolean;
  /**
   * Cron expressions (UTC; five fields, or six with seconds first): each tick runs the function
   * once, as an async invocation with `trigger: "schedule"`.
   */
  schedules?: string[];
  /**
   * Names of the project's secrets the function sees as env (over a plain `env` entry of the
   * same name). Only the names are kept in the version; values are read when it runs.
   */
  secrets?: string[];
  /** Invocations per second of this function on every path (API, HTTP triggers), shared by every gateway. Absent: no limit. */
  rateLimit?: RateLimit;
}

/** One immutable, numbered version of a function. */
export interface FunctionVersion extends FunctionConfig {
  name: string;
  version: number;
  /** The project (tenant) that owns the function. Absent in versions stored before projects: DEFAULT_PROJECT. */
  project?: string;
  /** sha256 of the canonical source archive (a deterministic tar) in the blob store. */
  codeSha256: string;
  codeSizeBytes: number;
  /**
   * sha256 of what the runtime loads, in the blob store: for js/ts, one bundled ES module
   * (esbuild output) whose default export is the handler. Equal to codeSha256 where no build runs.
   */
  artifactSha256: string;
  createdAt: string;
}

/** A function as listed: its name and its latest version. */
export interface FunctionRecord {
  name: string;
  latestVersion: number;
  createdAt: string;
  updatedAt: string;
  latest: FunctionVersion;
}

/** A version reference: `latest` or a number. */
export type VersionRef = 'latest' | number;

/** Source of a function as it arrives at the API. */
export type CodeInput =
  | string
  | { files: Record<string, string> }
  | { archive: string; format?: 'zip' | 'tar.gz' | 'tar' }
  /** `wasm` runtime: the module's bytes, base64; stored as `main.wasm`. */
  | { wasm: string };

/** A function as the API receives it (create, replace): every config field optional but runtime. */
export interface FunctionInput {
  name?: string;
  runtime?: FunctionRuntime;
  code?: CodeInput;
  handler?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  memoryMb?: number;
  maxConcurrency?: number;
  maxRetries?: number;
  routes?: Array<RouteSpec | string>;
  description?: string;
  image?: string;
  command?: string | string[];
  isolation?: 'runc' | 'gvisor';
  network?: boolean;
  public?: boolean;
  schedules?: string[];
  secrets?: string[];
  /** null removes the function's limit (PATCH). */
  rateLimit?: RateLimit | null;
}
