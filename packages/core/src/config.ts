import { FaasError } from './errors.ts';

/** The platform's configuration. Built by `loadConfig`; frozen; passed into constructors. */
export interface Config {
  /** @default 8080 (FAAS_PORT) */
  port: number;
  /** @default '0.0.0.0' (FAAS_HOST) */
  host: string;
  /** Where the SQLite file and blobs live. @default './.faas' (FAAS_DATA_DIR) */
  dataDir: string;
  /** The admin API key; generated on first start when unset. (FAAS_ADMIN_KEY) */
  adminKey: string | undefined;
  /** Require API keys on /api/v1. @default true (FAAS_AUTH, flag --no-auth) */
  auth: boolean;
  /** Largest accepted request body. @default 6291456 (FAAS_BODY_LIMIT_BYTES) */
  bodyLimitBytes: number;
  /** @default 'info' (FAAS_LOG_LEVEL) */
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** How long an invocation past a function's max concurrency waits for a slot before 429. @default 1000 (FAAS_CONCURRENCY_WAIT_MS) */
  concurrencyWaitMs: number;
  /** Async invocations run at once by this process. @default 8 (FAAS_QUEUE_CONCURRENCY) */
  queueConcurrency: number;
  /** Longest sleep of the queue consumer between polls. @default 1000 (FAAS_QUEUE_POLL_MS) */
  queuePollMs: number;
  /** First retry delay of a failed async invocation; doubles per attempt. @default 1000 (FAAS_RETRY_BASE_DELAY_MS) */
  retryBaseDelayMs: number;
  /** @default 60000 (FAAS_RETRY_MAX_DELAY_MS) */
  retryMaxDelayMs: number;
  /** How often the route table is reconciled with the store. @default 5000 (FAAS_ROUTE_SYNC_MS) */
  routeSyncMs: number;
  /** Warm isolates/containers idle this long are dropped. @default 300000 (FAAS_IDLE_TIMEOUT_MS) */
  idleTimeoutMs: number;
  /** Paused restores kept ready for recently used memory snapshots (gVisor); 0: none. @default 4 (FAAS_RESTORE_STANDBYS) */
  restoreStandbys: number;
  /**
   * Size of each project's file system per dependency cache (npm, pip): a sandbox that fills it
   * gets "no space left", never more of the host's disk. Fixed when a cache is first made.
   * @default 2048 (FAAS_DEPENDENCY_CACHE_MB)
   */
  dependencyCacheMb: number;
  /** Docker Engine address; the default socket when unset. (DOCKER_HOST) */
  dockerHost: string | undefined;
  /** Threads serving HTTP (sharing the port); 0: one per core, at most 4. @default 0 (FAAS_GATEWAY_THREADS) */
  gatewayThreads: number;
}

type Parser<T> = (raw: string) => T;

interface Field<K extends keyof Config> {
  env: string;
  default: Config[K];
  parse: Parser<Config[K]>;
}

const int =
  (min: number, max: number): Parser<number> =>
  (raw) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new Error(`must be an integer from ${min} to ${max}, got "${raw}"`);
    }
    return n;
  };

const bool: Parser<boolean> = (raw) => {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new Error(`must be true or false, got "${raw}"`);
};

const str: Parser<string> = (raw) => {
  if (raw.length === 0) throw new Error('must not be empty');
  return raw;
};

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const logLevel: Parser<Config['logLevel']> = (raw) => {
  const found = LOG_LEVELS.find((l) => l === raw);
  if (!found) throw new Error(`must be one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
  return found;
};

/** The one table of settings: flag name = key, environment name = `env`. Documented in docs/configuration.md. */
export const CONFIG_FIELDS: { [K in keyof Config]: Field<K> } = {
  port: { env: 'FAAS_PORT', default: 8080, parse: int(0, 65535) },
  host: { env: 'FAAS_HOST', default: '0.0.0.0', parse: str },
  dataDir: { env: 'FAAS_DATA_DIR', default: './.faas', parse: str },
  adminKey: { env: 'FAAS_ADMIN_KEY', default: undefined, parse: str },
  auth: { env: 'FAAS_AUTH', default: true, parse: bool },
  bodyLimitBytes: { env: 'FAAS_BODY_LIMIT_BYTES', default: 6 * 1024 * 1024, parse: int(1024, 1024 ** 3) },
  logLevel: { env: 'FAAS_LOG_LEVEL', default: 'info', parse: logLevel },
  concurrencyWaitMs: { env: 'FAAS_CONCURRENCY_WAIT_MS', default: 1000, parse: int(0, 60_000) },
  queueConcurrency: { env: 'FAAS_QUEUE_CONCURRENCY', default: 8, parse: int(1, 1024) },
  queuePollMs: { env: 'FAAS_QUEUE_POLL_MS', default: 1000, parse: int(10, 60_000) },
  retryBaseDelayMs: { env: 'FAAS_RETRY_BASE_DELAY_MS', default: 1000, parse: int(1, 3_600_000) },
  retryMaxDelayMs: { env: 'FAAS_RETRY_MAX_DELAY_MS', default: 60_000, parse: int(1, 86_400_000) },
  routeSyncMs: { env: 'FAAS_ROUTE_SYNC_MS', default: 5000, parse: int(100, 3_600_000) },
  idleTimeoutMs: { env: 'FAAS_IDLE_TIMEOUT_MS', default: 300_000, parse: int(1000, 86_400_000) },
  restoreStandbys: { env: 'FAAS_RESTORE_STANDBYS', default: 4, parse: int(0, 64) },
  dependencyCacheMb: { env: 'FAAS_DEPENDENCY_CACHE_MB', default: 2048, parse: int(16, 1024 * 1024) },
  dockerHost: { env: 'DOCKER_HOST', default: undefined, parse: str },
  gatewayThreads: { env: 'FAAS_GATEWAY_THREADS', default: 0, parse: int(0, 64) },
};

const ENV_NAMES = new Set(Object.values(CONFIG_FIELDS).map((f) => f.env));

/**
 * Builds the configuration: flag > environment > default. Unknown `FAAS_*` variables and bad
 * values are all reported at once in one VALIDATION error. Pure: reads only its arguments.
 */
export function loadConfig(
  env: Record<string, string | undefined> = {},
  flags: Partial<Record<keyof Config, string | number | boolean>> = {},
): Readonly<Config> {
  const problems: string[] = [];
  for (const name of Object.keys(env)) {
    if (name.startsWith('FAAS_') && !ENV_NAMES.has(name) && !IGNORED_ENV.has(name)) {
      problems.push(`${name}: unknown setting`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(CONFIG_FIELDS) as Array<keyof Config>) {
    const field = CONFIG_FIELDS[key] as Field<keyof Config>;
    const flag = flags[key];
    const raw = flag !== undefined ? String(flag) : env[field.env];
    if (raw === undefined || raw === '') {
      out[key] = field.default;
      continue;
    }
    try {
      out[key] = field.parse(raw);
    } catch (err) {
      const source = flag !== undefined ? `--${key}` : field.env;
      problems.push(`${source}: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) {
    throw new FaasError('FAAS_ERR_VALIDATION', `Invalid configuration: ${problems.join('; ')}`, {
      details: problems,
    });
  }
  return Object.freeze(out as unknown as Config);
}

/** FAAS_* variables read by other parts (the CLI's client settings), not by the server. */
const IGNORED_ENV = new Set(['FAAS_URL', 'FAAS_API_KEY']);
