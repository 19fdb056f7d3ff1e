import {
  CONTAINER_MEMORY_MIN_MB,
  commandProblems,
  ErrorCode,
  envEntryProblems,
  FaasError,
  FUNCTION_DEFAULTS,
  FUNCTION_LIMITS,
  type FunctionConfig,
  type FunctionInput,
  type FunctionRuntime,
  HTTP_METHODS,
  imageReferenceProblem,
  MAX_FUNCTION_SECRETS,
  type RateLimit,
  type RouteSpec,
  SECRET_NAME_PATTERN,
} from '@faas/core';
import { CronExpression, CronSyntaxError } from './cron-expression.ts';
import { RESERVED_PREFIXES, routeKey } from './route-table.ts';

export interface FieldProblem {
  field: string;
  message: string;
}

export const FUNCTION_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * A go handler: a file at the root of the code (where package main is compiled) and a Go
 * identifier, which the build writes into Go source (so nothing else may get through).
 */
export const GO_HANDLER_PATTERN = /^[\w-]+(\.go)?\.[A-Za-z_][A-Za-z0-9_]*$/;

export function defaultHandler(runtime: FunctionRuntime): string {
  if (runtime === 'python') return 'main.handler';
  // A WASI command's entry point: `main.wasm`'s `_start`.
  if (runtime === 'wasm') return 'main._start';
  if (runtime === 'go') return 'main.Handler';
  return 'index.default';
}

/** The operator's caps on what one function may ask for (FAAS_MAX_FUNCTION_*). */
export interface FunctionCaps {
  memoryMb: number;
  maxConcurrency: number;
  /** js/ts: one isolate host's share of FAAS_ISOLATE_MEMORY_MB; no isolate may be larger. */
  isolateMemoryMb: number;
}

/** The API's own limits: what applies when the operator sets no lower cap. */
export const NO_CAPS: FunctionCaps = {
  memoryMb: FUNCTION_LIMITS.memoryMb.max,
  maxConcurrency: FUNCTION_LIMITS.maxConcurrency.max,
  isolateMemoryMb: FUNCTION_LIMITS.memoryMb.max,
};

/**
 * Fills defaults into a full config. `base` (the latest version, for PATCH) supplies fields the
 * input leaves out; without it, defaults do. The result is held to `caps`, fields kept from
 * `base` included: a new version obeys the caps in force now.
 * @throws FaasError VALIDATION naming every bad field at once.
 */
export function resolveConfig(
  input: FunctionInput,
  base?: FunctionConfig,
  caps: FunctionCaps = NO_CAPS,
): FunctionConfig {
  const runtime = input.runtime ?? base?.runtime;
  const problems: FieldProblem[] = [];
  if (!runtime) {
    throw validation([{ field: 'runtime', message: 'is required' }]);
  }
  const runtimeChanged = base !== undefined && runtime !== base.runtime;
  const config: FunctionConfig = {
    runtime,
    handler: input.handler ?? (runtimeChanged ? undefined : base?.handler) ?? defaultHandler(runtime),
    env: input.env ?? base?.env ?? {},
    timeoutMs: input.timeoutMs ?? base?.timeoutMs ?? FUNCTION_DEFAULTS.timeoutMs,
    memoryMb: input.memoryMb ?? base?.memoryMb ?? FUNCTION_DEFAULTS.memoryMb,
    maxConcurrency: input.maxConcurrency ?? base?.maxConcurrency ?? FUNCTION_DEFAULTS.maxConcurrency,
    maxRetries: input.maxRetries ?? base?.maxRetries ?? FUNCTION_DEFAULTS.maxRetries,
    routes: input.routes ? parseRoutes(input.routes, problems) : (base?.routes ?? []),
    description: input.description ?? base?.description ?? '',
  };
  const image = input.image ?? base?.image;
  const command = input.command ?? base?.command;
  // A container's isolation and network are not carried over to a js, ts or wasm version, where
  // they would refuse the change (PATCH has no way to unset them).
  const inContainer = runtime !== 'js' && runtime !== 'ts' && runtime !== 'wasm';
  const isolation = input.isolation ?? (inContainer ? base?.isolation : undefined);
  const network = input.network ?? (inContainer ? base?.network : undefined);
  const isPublic = input.public ?? base?.public;
  const schedules = input.schedules ?? base?.schedules;
  const secrets = input.secrets ?? base?.secrets;
  if (image !== undefined) config.image = image;
  if (command !== undefined) config.command = command;
  if (isolation !== undefined) config.isolation = isolation;
  if (network !== undefined) config.network = network;
  if (isPublic) config.public = true;
  if (schedules && schedules.length > 0) config.schedules = checkSchedules(schedules, problems);
  if (secrets && secrets.length > 0) config.secrets = checkSecrets(secrets, problems);
  const rateLimit = input.rateLimit === null ? undefined : (input.rateLimit ?? base?.rateLimit);
  if (rateLimit) config.rateLimit = checkRateLimit(rateLimit, problems);

  if (!/^[\w./-]+\.[A-Za-z_$][\w$]*$/.test(config.handler) || config.handler.includes('..')) {
    problems.push({
      field: 'handler',
      message: 'must be "file.export", e.g. "index.default" or "src/api.handler"',
    });
  }
  if (runtime === 'go' && !GO_HANDLER_PATTERN.test(config.handler)) {
    problems.push({
      field: 'handler',
      message:
        'must be "file.Function" for go: a .go file at the code\'s root (package main) and a Go identifier, e.g. "main.Handler"',
    });
  }
  checkEnv(config.env, problems);
  if (runtime === 'image' && !config.image) {
    problems.push({ field: 'image', message: 'is required for runtime "image"' });
  }
  const imageProblem = config.image === undefined ? undefined : imageReferenceProblem(config.image);
  if (imageProblem) problems.push({ field: 'image', message: imageProblem });
  if (runtime === 'image' && (!config.command || config.command.length === 0)) {
    problems.push({ field: 'command', message: 'is required for runtime "image": the image is run with it' });
  } else if (config.command !== undefined) {
    problems.push(...commandProblems(config.command));
  }
  if ((runtime === 'js' || runtime === 'ts' || runtime === 'wasm') && (config.isolation || config.network)) {
    problems.push({ field: 'isolation', message: 'isolation and network apply to container runtimes only' });
  }
  const memoryMin = Object.hasOwn(CONTAINER_MEMORY_MIN_MB, runtime)
    ? CONTAINER_MEMORY_MIN_MB[runtime as keyof typeof CONTAINER_MEMORY_MIN_MB]
    : undefined;
  if (memoryMin !== undefined && config.memoryMb < memoryMin) {
    problems.push({
      field: 'memoryMb',
      message: `must be at least ${memoryMin} for ${runtime}: its container cannot start with less`,
    });
  } else if (config.memoryMb > caps.memoryMb) {
    problems.push({
      field: 'memoryMb',
      message: `must be at most ${caps.memoryMb}, this server's cap (FAAS_MAX_FUNCTION_MEMORY_MB)`,
    });
  } else if ((runtime === 'js' || runtime === 'ts') && config.memoryMb > caps.isolateMemoryMb) {
    problems.push({
      field: 'memoryMb',
      message: `must be at most ${caps.isolateMemoryMb} for js and ts here: one isolate host's share of FAAS_ISOLATE_MEMORY_MB (split over FAAS_ISOLATE_HOSTS)`,
    });
  }
  if (config.maxConcurrency > caps.maxConcurrency) {
    problems.push({
      field: 'maxConcurrency',
      message: `must be at most ${caps.maxConcurrency}, this server's cap (FAAS_MAX_FUNCTION_CONCURRENCY)`,
    });
  }
  if (problems.length > 0) throw validation(problems);
  return config;
}

/**
 * The schema checks a limit the API receives; this checks it again for the callers that bypass
 * the schema (the CLI's manifest, the SDK's types, stored versions).
 */
export function checkRateLimit(limit: RateLimit, problems: FieldProblem[], field = 'rateLimit'): RateLimit {
  const { requestsPerSecond, burst } = FUNCTION_LIMITS.rateLimit;
  const rps = limit.requestsPerSecond;
  if (
    typeof rps !== 'number' ||
    !Number.isFinite(rps) ||
    rps < requestsPerSecond.min ||
    rps > requestsPerSecond.max
  )
    problems.push({
      field: `${field}.requestsPerSecond`,
      message: `must be a number from ${requestsPerSecond.min} to ${requestsPerSecond.max}`,
    });
  if (!Number.isInteger(limit.burst) || limit.burst < burst.min || limit.burst > burst.max)
    problems.push({
      field: `${field}.burst`,
      message: `must be an integer from ${burst.min} to ${burst.max}`,
    });
  return { requestsPerSecond: rps, burst: limit.burst };
}

/**
 * Names a process can see, values it gets whole (no NUL: exec would end the value there), and
 * sizes every runtime can pass (an image function's exec the least). The rules of sandbox and
 * instance env (envEntryProblems).
 */
function checkEnv(env: Record<string, string>, problems: FieldProblem[]): void {
  const { entryBytes, totalBytes } = FUNCTION_LIMITS.env;
  let total = 0;
  for (const [key, value] of Object.entries(env)) {
    // The API's schema says values are strings too; a manifest or a stored version may not have
    // been through it.
    problems.push(...envEntryProblems(key, value));
    if (typeof value !== 'string') continue;
    const bytes = envEntryBytes(key, value);
    total += bytes;
    if (bytes > entryBytes)
      problems.push({
        field: `env.${key}`,
        message: `is ${bytes} bytes as NAME=value (UTF-8): at most ${entryBytes} (64 KiB)`,
      });
  }
  if (total > totalBytes)
    problems.push({
      field: 'env',
      message: `is ${total} bytes as NAME=value entries (UTF-8): at most ${totalBytes} (256 KiB) in all`,
    });
}

/** An env variable's size as a process gets it: `NAME=value` in UTF-8. */
function envEntryBytes(name: string, value: string): number {
  return Buffer.byteLength(name) + 1 + Buffer.byteLength(value);
}

/**
 * The refusal of an env whose secrets (their values merged in at run time) take it past the
 * total every runtime can pass, or undefined when it fits.
 */
export function envWithSecretsTooLarge(env: Record<string, string>): FaasError | undefined {
  const { totalBytes } = FUNCTION_LIMITS.env;
  let total = 0;
  for (const [name, value] of Object.entries(env)) total += envEntryBytes(name, value);
  if (total <= totalBytes) return undefined;
  return validation([
    {
      field: 'secrets',
      message: `with their values the env is ${total} bytes as NAME=value entries (UTF-8): at most ${totalBytes} (256 KiB) in all`,
    },
  ]);
}

function checkSchedules(schedules: string[], problems: FieldProblem[]): string[] {
  const seen = new Set<string>();
  schedules.forEach((text, i) => {
    try {
      CronExpression.parse(text);
    } catch (err) {
      if (!(err instanceof CronSyntaxError)) throw err;
      problems.push({ field: `schedules[${i}]`, message: err.message });
    }
    if (seen.has(text.trim())) problems.push({ field: `schedules[${i}]`, message: 'is listed twice' });
    seen.add(text.trim());
  });
  return schedules.map((s) => s.trim());
}

/** Names only (values live in the project's secrets); each once, sorted so order makes no version. */
function checkSecrets(names: string[], problems: FieldProblem[]): string[] {
  if (names.length > MAX_FUNCTION_SECRETS) {
    problems.push({ field: 'secrets', message: `must name at most ${MAX_FUNCTION_SECRETS} secrets` });
  }
  names.forEach((name, i) => {
    if (typeof name !== 'string' || !SECRET_NAME_PATTERN.test(name)) {
      problems.push({
        field: `secrets[${i}]`,
        message: 'must be a secret name (an environment variable name)',
      });
    }
  });
  return [...new Set(names)].sort();
}

function parseRoutes(routes: Array<RouteSpec | string>, problems: FieldProblem[]): RouteSpec[] {
  const out: RouteSpec[] = [];
  const seen = new Map<string, number>();
  routes.forEach((r, i) => {
    const field = `routes[${i}]`;
    let spec: RouteSpec | undefined;
    if (typeof r === 'string') {
      const m = /^\s*([A-Za-z]+)\s+(\S+)\s*$/.exec(r);
      const method = m?.[1]?.toUpperCase();
      if (!m || !method || !isMethod(method)) {
        problems.push({ field, message: `"${r}" must be "METHOD /path", e.g. "GET /users/:id"` });
        return;
      }
      spec = { method, path: m[2] as string };
    } else {
      spec = { method: r.method.toUpperCase() as RouteSpec['method'], path: r.path };
      if (!isMethod(spec.method)) {
        problems.push({
          field: `${field}.method`,
          message: `must be one of ${[...HTTP_METHODS, 'ANY'].join(', ')}`,
        });
        return;
      }
    }
    const pathProblem = checkRoutePath(spec.path);
    if (pathProblem) {
      problems.push({ field: `${field}.path`, message: pathProblem });
      return;
    }
    const key = routeKey(spec.method, spec.path);
    const first = seen.get(key);
    if (first !== undefined) {
      problems.push({
        field,
        message: `matches the same requests as routes[${first}]: only one could be reached`,
      });
      return;
    }
    seen.set(key, i);
    out.push(spec);
  });
  return out;
}

function isMethod(m: string): m is RouteSpec['method'] {
  return m === 'ANY' || (HTTP_METHODS as readonly string[]).includes(m);
}

function checkRoutePath(path: string): string | undefined {
  if (!path.startsWith('/')) return 'must start with "/"';
  if (path.length > 512) return 'is too long';
  if (RESERVED_PREFIXES.some((p) => path === p.replace(/\/$/, '') || path.startsWith(p))) {
    return `is reserved by the gateway (${RESERVED_PREFIXES.join(', ')})`;
  }
  const segments = path.split('/').filter(Boolean);
  // A request's params are one object: a second `:x` would overwrite the first's value.
  const params = new Set<string>();
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i] as string;
    if (s === '*' && i !== segments.length - 1) return '"*" may only be the last segment';
    if (s.startsWith(':')) {
      if (!/^:[A-Za-z_][A-Za-z0-9_]*$/.test(s)) return `bad parameter "${s}"`;
      if (params.has(s)) return `names the parameter "${s}" twice: each needs its own name`;
      params.add(s);
    }
    if (!s.startsWith(':') && s !== '*' && !/^[A-Za-z0-9._~!$&'()+,;=@%-]+$/.test(s))
      return `bad segment "${s}"`;
  }
  return undefined;
}

export function validation(problems: FieldProblem[]): FaasError {
  const summary = problems.map((p) => `${p.field} ${p.message}`).join('; ');
  return new FaasError(ErrorCode.VALIDATION, `Invalid function: ${summary}`, { details: problems });
}

/** Whether two configs are the same, so a redeploy of identical code and config makes no version. */
export function sameConfig(a: FunctionConfig, b: FunctionConfig): boolean {
  return stableJson(pickConfig(a)) === stableJson(pickConfig(b));
}

/** Every field of a config, each named once: tsc fails here when one is added to FunctionConfig. */
const CONFIG_KEYS = Object.keys({
  runtime: true,
  handler: true,
  env: true,
  timeoutMs: true,
  memoryMb: true,
  maxConcurrency: true,
  maxRetries: true,
  routes: true,
  description: true,
  image: true,
  command: true,
  isolation: true,
  network: true,
  public: true,
  schedules: true,
  secrets: true,
  rateLimit: true,
} satisfies Record<keyof FunctionConfig, true>) as Array<keyof FunctionConfig>;

export function pickConfig(v: FunctionConfig): FunctionConfig {
  const out: Record<string, unknown> = {};
  for (const k of CONFIG_KEYS) if (v[k] !== undefined) out[k] = v[k];
  return out as unknown as FunctionConfig;
}

function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : 1)))
      : v,
  );
}
