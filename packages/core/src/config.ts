import { isIP } from 'node:net';
import { FaasError } from './errors.ts';

/** The platform's configuration. Built by `loadConfig`; frozen; passed into constructors. */
export interface Config {
  /** @default 8080 (FAAS_PORT) */
  port: number;
  /** @default '0.0.0.0' (FAAS_HOST) */
  host: string;
  /** Where the SQLite file and blobs live. @default './.faas' (FAAS_DATA_DIR) */
  dataDir: string;
  /**
   * The admin API key; generated on first start when unset. At least 32 characters of
   * `A-Za-z0-9_-`, not a short pattern repeated; a new value revokes the one configured before.
   * (FAAS_ADMIN_KEY)
   */
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
  /** Lease of an async job, renewed every half of it while the job is held. @default 30000 (FAAS_QUEUE_LEASE_MS) */
  queueLeaseMs: number;
  /**
   * The queue of async invocations: unset, the embedded SQLite one in the data dir;
   * `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS), a Redis 7 shared by every
   * server of a deployment. (FAAS_QUEUE_URL)
   */
  queueUrl: string | undefined;
  /** Prefix of the Redis queue's keys: deployments sharing one Redis use different ones. @default 'faas' (FAAS_QUEUE_PREFIX) */
  queuePrefix: string;
  /** Invocation records waiting to be written past which sync calls are refused (503). @default 10000 (FAAS_MAX_PENDING_RECORDS) */
  maxPendingRecords: number;
  /**
   * Async invocations a project may have accepted and not finished (queued or running) when a
   * platform admin set it no `queuedInvocations` quota; past it async calls are refused (429).
   * 0: no limit. @default 10000 (FAAS_MAX_QUEUED_PER_PROJECT)
   */
  maxQueuedPerProject: number;
  /** Days finished invocations, their logs and dead letters are kept; 0: forever. @default 30 (FAAS_RETENTION_DAYS) */
  retentionDays: number;
  /** Most invocations kept (the newest: a row cap); 0: no cap. @default 0 (FAAS_RETENTION_MAX_ROWS) */
  retentionMaxRows: number;
  /** Hours a blob nothing names is kept after its last put, then deleted; 0: kept forever. @default 24 (FAAS_BLOB_GRACE_HOURS) */
  blobGraceHours: number;
  /** A schedule's ticks missed while no server ran: `once` runs the latest, `skip` none. @default once (FAAS_SCHEDULE_MISSED) */
  scheduleMissed: 'once' | 'skip';
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
  /** Processes js/ts functions run in, apart from the threads that serve HTTP; 0: one per core, at most 4. @default 0 (FAAS_ISOLATE_HOSTS) */
  isolateHosts: number;
  /** Memory for all V8 isolates together, in MB; 0: half the machine's memory. @default 0 (FAAS_ISOLATE_MEMORY_MB) */
  isolateMemoryMb: number;
  /** Isolates (warm or running) the server keeps at most. @default 10000 (FAAS_MAX_ISOLATES) */
  maxIsolates: number;
  /** Worker threads `wasm` functions run in, at most; past it invocations wait for one. @default 8 (FAAS_WASM_WORKERS) */
  wasmWorkers: number;
  /** How long past its deadline a js/ts invocation may go unanswered before its isolate host is killed and replaced. @default 1000 (FAAS_ISOLATE_STUCK_GRACE_MS) */
  isolateStuckGraceMs: number;
  /** Largest `memoryMb` a function may ask for. @default 1024 (FAAS_MAX_FUNCTION_MEMORY_MB) */
  maxFunctionMemoryMb: number;
  /** Largest `maxConcurrency` a function may ask for. @default 100 (FAAS_MAX_FUNCTION_CONCURRENCY) */
  maxFunctionConcurrency: number;
  /**
   * Failed authentications one client address may make in a burst before 429; 0: no limit.
   * @default 20 (FAAS_AUTH_FAILURE_LIMIT)
   */
  authFailureLimit: number;
  /** The time in which a client's allowance of failures refills completely. @default 60000 (FAAS_AUTH_FAILURE_WINDOW_MS) */
  authFailureWindowMs: number;
  /**
   * Invocations per second one client address may make of public functions' HTTP triggers (a
   * token bucket per address, IPv6 per /64, shared by every thread, and every gateway with
   * FAAS_QUEUE_URL); 0: no limit. @default 50 (FAAS_PUBLIC_RATE_LIMIT_RPS)
   */
  publicRateLimitRps: number;
  /** The burst those buckets allow. @default 100 (FAAS_PUBLIC_RATE_LIMIT_BURST) */
  publicRateLimitBurst: number;
  /** Accept HS256 JWTs signed with this shared secret (at least 32 characters). (FAAS_JWT_SECRET) */
  jwtSecret: string | undefined;
  /**
   * The key secrets are encrypted with: 32 bytes as 64 hex digits or base64. Unset: a key file
   * made on first start in the data dir (`secret.key`, mode 0600). (FAAS_SECRET_KEY)
   */
  secretKey: string | undefined;
  /**
   * The key before a rotation: secrets it encrypted still decrypt. A store of this server's alone
   * (SQLite) moves to the current key at start; a shared one (PostgreSQL) keeps being written with
   * this key until `faas secrets rotate`, since servers not restarted yet hold only it.
   * (FAAS_SECRET_KEY_PREVIOUS)
   */
  secretKeyPrevious: string | undefined;
  /** Accept RS256/ES256 JWTs signed by this key (PEM, SPKI). (FAAS_JWT_PUBLIC_KEY) */
  jwtPublicKey: string | undefined;
  /** Accept RS256/ES256 JWTs signed by a key of this JWKS. (FAAS_JWT_JWKS_URL) */
  jwtJwksUrl: string | undefined;
  /** A JWT's `iss` must be this. (FAAS_JWT_ISSUER) */
  jwtIssuer: string | undefined;
  /** A JWT's `aud` must hold this. (FAAS_JWT_AUDIENCE) */
  jwtAudience: string | undefined;
  /** The claim that names a JWT's project. @default project (FAAS_JWT_PROJECT_CLAIM) */
  jwtProjectClaim: string;
  /** The claim that names a JWT's role. @default role (FAAS_JWT_ROLE_CLAIM) */
  jwtRoleClaim: string;
  /**
   * Invocations per second each JWT subject (`sub`) may make, as a key's `rateLimit` (a token
   * has no stored key to carry one); 0: no limit. @default 0 (FAAS_JWT_RATE_LIMIT_RPS)
   */
  jwtRateLimitRps: number;
  /** The burst of each subject's bucket. @default 100 (FAAS_JWT_RATE_LIMIT_BURST) */
  jwtRateLimitBurst: number;
  /** Serve HTTPS with this certificate chain (a PEM file), with `tlsKey`. (FAAS_TLS_CERT) */
  tlsCert: string | undefined;
  /** The certificate's private key (a PEM file). (FAAS_TLS_KEY) */
  tlsKey: string | undefined;
  /**
   * With TLS, serve HTTP/2 (ALPN h2) beside HTTP/1.1 on the port; false: HTTP/1.1 only. No effect
   * without TLS (browsers speak HTTP/2 over TLS only). @default true (FAAS_HTTP2)
   */
  http2: boolean;
  /**
   * Answer every HTTP trigger (`/fn/{name}`, declared routes) with `Content-Security-Policy:
   * sandbox …` (no allow-same-origin), so a function's page runs in an opaque origin and cannot use
   * the console's session, served from the same origin. false only with the console on a host of
   * its own. @default true (FAAS_TRIGGER_SANDBOX)
   */
  triggerSandbox: boolean;
  /**
   * Proxies in front (a load balancer, an Ingress) whose `X-Forwarded-For` is believed: IPv4/IPv6
   * addresses and CIDR ranges, comma-separated. The client is the last address of the chain not
   * among them; without them every client behind a proxy is the proxy's one address to the auth
   * throttle and the per-address limits. Empty: the header is ignored. (FAAS_TRUSTED_PROXIES)
   */
  trustedProxies: readonly string[];
  /**
   * The PostgreSQL metadata store, `postgres://user:password@host:5432/database`; unset: the
   * embedded SQLite file in the data dir. (FAAS_DATABASE_URL)
   */
  databaseUrl: string | undefined;
  /** Connections the server's PostgreSQL pool opens at most. @default 10 (FAAS_DATABASE_POOL_SIZE) */
  databasePoolSize: number;
  /**
   * The blob store (code, artifacts, snapshots): unset, files in the data dir; `s3://bucket/prefix`,
   * an S3 bucket shared by every server of a deployment, read through a local cache. Credentials
   * and region are read as the AWS SDK reads them (AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_REGION…).
   * (FAAS_OBJECT_STORE_URL)
   */
  objectStoreUrl: string | undefined;
  /** An S3-compatible endpoint (MinIO, Ceph, a test server) instead of AWS's; path-style requests. (FAAS_S3_ENDPOINT) */
  s3Endpoint: string | undefined;
  /** The bucket's region; unset: AWS_REGION, then us-east-1. (FAAS_S3_REGION) */
  s3Region: string | undefined;
  /** Size of the local disk cache in front of S3 (least recently used blobs go first). @default 2048 (FAAS_BLOB_CACHE_MB) */
  blobCacheMb: number;
  /** Apply PostgreSQL migrations at start; off: refuse to start on an old schema (run `faas migrate`). @default true (FAAS_DATABASE_MIGRATE) */
  databaseMigrate: boolean;
  /** Largest file or folder tar downloaded from an instance. @default 1073741824 (FAAS_INSTANCE_MAX_DOWNLOAD_BYTES) */
  instanceMaxDownloadBytes: number;
  /** Largest `memory_mb` of an instance (and of the execute API's sandboxes). @default 4096 (FAAS_INSTANCE_MAX_MEMORY_MB) */
  instanceMaxMemoryMb: number;
  /** Largest `disk_mb` of an instance. @default 4096 (FAAS_INSTANCE_MAX_DISK_MB) */
  instanceMaxDiskMb: number;
  /** Most `cpus` of an instance. @default 4 (FAAS_INSTANCE_MAX_CPUS) */
  instanceMaxCpus: number;
  /** Largest `pids_limit` of an instance. @default 4096 (FAAS_INSTANCE_MAX_PIDS) */
  instanceMaxPids: number;
  /** Longest `idle_ttl_ms` of an instance; 0: no bound (and `idle_ttl_ms: 0`, never idle, allowed). @default 86400000 (FAAS_INSTANCE_MAX_IDLE_TTL_MS) */
  instanceMaxIdleTtlMs: number;
  /** Live instances one API key may hold. @default 16 (FAAS_INSTANCE_MAX_PER_KEY) */
  instanceMaxPerKey: number;
  /** Live instances on this server. @default 64 (FAAS_INSTANCE_MAX_TOTAL) */
  instanceMaxTotal: number;
  /**
   * Let functions declare dependencies that are not registry packages (file:, git, URLs, pip
   * options); installs run in a sandbox either way. @default false (FAAS_ALLOW_NON_REGISTRY_DEPENDENCIES)
   */
  allowNonRegistryDependencies: boolean;
  /** The npm registry dependency installs use. @default 'https://registry.npmjs.org/' (FAAS_NPM_REGISTRY) */
  npmRegistry: string;
  /** The Python package index dependency installs use. @default 'https://pypi.org/simple' (FAAS_PIP_INDEX_URL) */
  pipIndexUrl: string;
  /**
   * A bearer token `GET /metrics` requires (as strong as FAAS_ADMIN_KEY); unset, /metrics is open
   * like /health. (FAAS_METRICS_TOKEN)
   */
  metricsToken: string | undefined;
  /**
   * OTLP/HTTP base URL: with it set, spans are exported to `<url>/v1/traces`; unset (and
   * `otlpTracesEndpoint` unset), tracing is off. (OTEL_EXPORTER_OTLP_ENDPOINT, the standard name)
   */
  otlpEndpoint: string | undefined;
  /** The full OTLP/HTTP traces URL, ahead of `otlpEndpoint`. (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) */
  otlpTracesEndpoint: string | undefined;
  /** `service.name` of the exported spans. @default 'faas' (OTEL_SERVICE_NAME) */
  otelServiceName: string;
  /**
   * Which traces record spans, as OpenTelemetry's SDKs read it: `parentbased_*` follow a caller's
   * sampled flag and apply the rest to new traces. @default 'parentbased_always_on'
   * (OTEL_TRACES_SAMPLER)
   */
  otelTracesSampler: TracesSampler;
  /** The ratio of the `*traceidratio` samplers, 0 to 1. @default 1 (OTEL_TRACES_SAMPLER_ARG) */
  otelTracesSamplerArg: number;
  /**
   * What this node does in a cluster: `all`, everything in one process (today's server);
   * `gateway`, the HTTP API and js/ts (isolate) functions, container work sent to workers;
   * `worker`, the container runtime (and the cluster's internal API). `gateway` and `worker`
   * need the shared backends (FAAS_DATABASE_URL, FAAS_QUEUE_URL, FAAS_OBJECT_STORE_URL) and
   * FAAS_CLUSTER_SECRET. @default 'all' (FAAS_ROLE, flag --role)
   */
  role: NodeRole;
  /** The URL other nodes reach this one at; unset: made from FAAS_HOST and the port it listens on. (FAAS_ADVERTISE_URL) */
  advertiseUrl: string | undefined;
  /**
   * The secret nodes authenticate to each other with (the rules of FAAS_ADMIN_KEY); never a
   * user's key, and refused on the user API. (FAAS_CLUSTER_SECRET)
   */
  clusterSecret: string | undefined;
  /** How long a worker may go without a heartbeat before it is out of the cluster. @default 5000 (FAAS_WORKER_TIMEOUT_MS) */
  workerTimeoutMs: number;
}

/** The roles of `faas serve --role`. */
export const NODE_ROLES = ['all', 'gateway', 'worker'] as const;
export type NodeRole = (typeof NODE_ROLES)[number];

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

const num =
  (min: number, max: number): Parser<number> =>
  (raw) => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
      throw new Error(`must be a number from ${min} to ${max}, got "${raw}"`);
    }
    return n;
  };

/** Requests per second of a rate limit: 0 (none), or a function's range (0.001 to 1,000,000). */
const rateLimitRps: Parser<number> = (raw) => {
  const n = num(0, 1_000_000)(raw);
  if (n > 0 && n < 0.001) throw new Error(`must be 0 (no limit) or from 0.001 to 1000000, got "${raw}"`);
  return n;
};

const bool: Parser<boolean> = (raw) => {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new Error(`must be true or false, got "${raw}"`);
};

/** `10.0.0.0/8, 192.168.1.7, fd00::/8`: addresses and CIDR ranges, each checked. */
const addressRanges: Parser<readonly string[]> = (raw) => {
  const ranges = raw
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  for (const range of ranges) {
    const [address = '', prefix, extra] = range.split('/');
    const family = isIP(address);
    const bits = family === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits);
    if (family === 0 || !prefixOk || extra !== undefined) {
      throw new Error(`must be IP addresses or CIDR ranges separated by commas, got "${range}"`);
    }
  }
  return Object.freeze(ranges);
};

const str: Parser<string> = (raw) => {
  if (raw.length === 0) throw new Error('must not be empty');
  return raw;
};

/** Fewer distinct characters than this is a pattern (`aaaa…`, `abab…`), not a secret. */
const MIN_KEY_DISTINCT_CHARS = 12;
export const ADMIN_KEY_RULE = `32 to 512 characters of A-Z a-z 0-9 _ -, with at least ${MIN_KEY_DISTINCT_CHARS} different ones (e.g. faas_ and 43 random base64url characters)`;

/** A configured admin key must be as hard to guess as a generated one; it is never echoed. */
const adminKey: Parser<string> = (raw) => {
  const strong =
    raw.length >= 32 &&
    raw.length <= 512 &&
    /^[A-Za-z0-9_-]+$/.test(raw) &&
    new Set(raw).size >= MIN_KEY_DISTINCT_CHARS;
  if (!strong) throw new Error(`is too weak: it must be ${ADMIN_KEY_RULE} (${raw.length} characters given)`);
  return raw;
};

/**
 * A PostgreSQL connection URL. Problems are told without the URL itself: it may hold a password.
 */
const databaseUrl: Parser<string> = (raw) => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error('is not a URL: it must look like postgres://user:password@host:5432/database');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new Error(
      'must be a postgres:// or postgresql:// URL (postgres://user:password@host:5432/database)',
    );
  }
  for (const [part, value] of [
    ['user name', url.username],
    ['password', url.password],
    ['database name', url.pathname],
  ]) {
    try {
      decodeURIComponent(value ?? '');
    } catch {
      throw new Error(`has a malformed %-escape in its ${part}`);
    }
  }
  return raw;
};

function parseHttpUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`must be an http(s) URL, got ${redactUrl(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`must be an http(s) URL, got ${redactUrl(raw)}`);
  return url;
}

/** The samplers of OpenTelemetry's `OTEL_TRACES_SAMPLER` this server implements. */
export const TRACES_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
export type TracesSampler = (typeof TRACES_SAMPLERS)[number];

const tracesSampler: Parser<TracesSampler> = (raw) => {
  const value = raw.trim().toLowerCase();
  const known = TRACES_SAMPLERS.find((s) => s === value);
  if (!known) throw new Error(`must be one of ${TRACES_SAMPLERS.join(', ')}, got "${raw}"`);
  return known;
};

/** An OTLP/HTTP collector's URL (http or https). A collector's credentials go in headers, not here. */
const otlpUrl: Parser<string> = (raw) => {
  parseHttpUrl(raw);
  return raw;
};

/**
 * A package index or registry URL. No credentials in it: install containers run the packages'
 * own build code (pip builds sdists), which would read them from the environment and could print
 * them into a deploy's error. Put a proxy that adds them in front instead.
 */
const httpUrl: Parser<string> = (raw) => {
  const url = parseHttpUrl(raw);
  if (url.username || url.password || url.search) {
    throw new Error(
      'must not carry credentials or a query: the install containers run package code that could read them; use a proxy that adds them',
    );
  }
  return raw;
};

/**
 * A URL with its password (or lone user, which Redis takes as one) and its query (ioredis takes
 * `?password=` too) replaced: it may be printed.
 */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    else if (url.username) url.username = '***';
    if (url.search) url.search = '?***';
    return url.toString();
  } catch {
    return '(a value that is not a URL)';
  }
}

const QUEUE_URL_SCHEMES = ['redis:', 'rediss:'];
/** Only the form is checked here; whether Redis answers is checked when the server starts. */
const queueUrl: Parser<string> = (raw) => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`must be a redis:// or rediss:// URL, got ${redactUrl(raw)}`);
  }
  if (!QUEUE_URL_SCHEMES.includes(url.protocol) || url.hostname === '') {
    throw new Error(`must be a redis:// or rediss:// URL with a host, got ${redactUrl(raw)}`);
  }
  const db = url.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d{1,5}$/.test(db)) {
    throw new Error(`the path of a Redis URL is a database number, got "/${db}"`);
  }
  return raw;
};

/** Key prefixes end up in every key and in Redis Cluster hash tags: a plain word keeps them simple. */
const queuePrefix: Parser<string> = (raw) => {
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(raw)) {
    throw new Error(`must be 1 to 64 characters of A-Z a-z 0-9 _ . : -, got "${raw}"`);
  }
  return raw;
};

/**
 * `s3://bucket` or `s3://bucket/prefix`: a bucket name as S3 allows it (3 to 63 of a-z 0-9 . -) and
 * a prefix of key-safe characters. Credentials never go in it: the AWS SDK reads them.
 */
const objectStoreUrl: Parser<string> = (raw) => {
  const match = /^s3:\/\/([^/?#]*)(\/[^?#]*)?$/.exec(raw);
  if (!match) throw new Error('must look like s3://bucket/prefix');
  const bucket = match[1] as string;
  if (bucket.includes('@') || bucket.includes(':')) {
    throw new Error('must not hold credentials or a port: set AWS_ACCESS_KEY_ID… and FAAS_S3_ENDPOINT');
  }
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new Error(`has "${bucket}" as its bucket: a bucket name is 3 to 63 of a-z 0-9 . -`);
  }
  const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (!/^[A-Za-z0-9_.\-/]{0,200}$/.test(prefix) || prefix.split('/').some((p) => p === '.' || p === '..')) {
    throw new Error('has a prefix that is not 0 to 200 of A-Z a-z 0-9 _ . - / (no . or .. parts)');
  }
  return raw;
};

/** An http(s) endpoint with no credentials in it: they go in AWS_*, and this may be printed. */
const s3Endpoint: Parser<string> = (raw) => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`must be an http(s) URL, got ${redactUrl(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`must be an http(s) URL, got ${redactUrl(raw)}`);
  }
  if (url.username || url.password) {
    throw new Error('must not hold credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  }
  return raw;
};

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const logLevel: Parser<Config['logLevel']> = (raw) => {
  const found = LOG_LEVELS.find((l) => l === raw);
  if (!found) throw new Error(`must be one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
  return found;
};

const jwtSecret: Parser<string> = (raw) => {
  if (raw.length < 32)
    throw new Error(`is too short for HS256: at least 32 characters (${raw.length} given)`);
  return raw;
};

/** 32 bytes, as 64 hex digits or as base64 (standard or url-safe): checked here, decoded by the vault. */
const secretKey: Parser<string> = (raw) => {
  const bytes = /^[0-9a-fA-F]{64}$/.test(raw)
    ? 32
    : /^[A-Za-z0-9+/_-]+={0,2}$/.test(raw)
      ? Math.floor((raw.replace(/=+$/, '').length * 3) / 4)
      : 0;
  if (bytes !== 32)
    throw new Error(
      'must be a 32-byte key as 64 hex digits or as base64 (e.g. the output of `openssl rand -base64 32`)',
    );
  return raw;
};

const pem: Parser<string> = (raw) => {
  if (!/-----BEGIN PUBLIC KEY-----/.test(raw))
    throw new Error('must be a PEM public key (-----BEGIN PUBLIC KEY-----)');
  return raw;
};

const nodeRole: Parser<NodeRole> = (raw) => {
  const role = NODE_ROLES.find((r) => r === raw);
  if (!role) throw new Error(`must be one of ${NODE_ROLES.join(', ')}, got "${raw}"`);
  return role;
};

/** Another node's view of this one: http(s), no credentials (the cluster secret travels in a header). */
const advertiseUrl: Parser<string> = (raw) => {
  const url = parseHttpUrl(raw);
  if (url.username || url.password || url.search || url.hash) {
    throw new Error('must be a plain http(s)://host:port URL, without credentials, query or fragment');
  }
  return raw.replace(/\/+$/, '');
};

const scheduleMissed: Parser<Config['scheduleMissed']> = (raw) => {
  if (raw !== 'once' && raw !== 'skip') throw new Error(`must be once or skip, got "${raw}"`);
  return raw;
};

/** The one table of settings: flag name = key, environment name = `env`. Documented in docs/configuration.md. */
export const CONFIG_FIELDS: { [K in keyof Config]: Field<K> } = {
  port: { env: 'FAAS_PORT', default: 8080, parse: int(0, 65535) },
  host: { env: 'FAAS_HOST', default: '0.0.0.0', parse: str },
  dataDir: { env: 'FAAS_DATA_DIR', default: './.faas', parse: str },
  adminKey: { env: 'FAAS_ADMIN_KEY', default: undefined, parse: adminKey },
  auth: { env: 'FAAS_AUTH', default: true, parse: bool },
  bodyLimitBytes: { env: 'FAAS_BODY_LIMIT_BYTES', default: 6 * 1024 * 1024, parse: int(1024, 1024 ** 3) },
  logLevel: { env: 'FAAS_LOG_LEVEL', default: 'info', parse: logLevel },
  concurrencyWaitMs: { env: 'FAAS_CONCURRENCY_WAIT_MS', default: 1000, parse: int(0, 60_000) },
  queueConcurrency: { env: 'FAAS_QUEUE_CONCURRENCY', default: 8, parse: int(1, 1024) },
  queuePollMs: { env: 'FAAS_QUEUE_POLL_MS', default: 1000, parse: int(10, 60_000) },
  queueLeaseMs: { env: 'FAAS_QUEUE_LEASE_MS', default: 30_000, parse: int(200, 3_600_000) },
  queueUrl: { env: 'FAAS_QUEUE_URL', default: undefined, parse: queueUrl },
  queuePrefix: { env: 'FAAS_QUEUE_PREFIX', default: 'faas', parse: queuePrefix },
  maxPendingRecords: { env: 'FAAS_MAX_PENDING_RECORDS', default: 10_000, parse: int(1, 10_000_000) },
  maxQueuedPerProject: { env: 'FAAS_MAX_QUEUED_PER_PROJECT', default: 10_000, parse: int(0, 1_000_000_000) },
  retentionDays: { env: 'FAAS_RETENTION_DAYS', default: 30, parse: int(0, 36_500) },
  retentionMaxRows: {
    env: 'FAAS_RETENTION_MAX_ROWS',
    default: 0,
    parse: int(0, 1_000_000_000),
  },
  blobGraceHours: { env: 'FAAS_BLOB_GRACE_HOURS', default: 24, parse: int(0, 87_600) },
  scheduleMissed: { env: 'FAAS_SCHEDULE_MISSED', default: 'once', parse: scheduleMissed },
  retryBaseDelayMs: { env: 'FAAS_RETRY_BASE_DELAY_MS', default: 1000, parse: int(1, 3_600_000) },
  retryMaxDelayMs: { env: 'FAAS_RETRY_MAX_DELAY_MS', default: 60_000, parse: int(1, 86_400_000) },
  routeSyncMs: { env: 'FAAS_ROUTE_SYNC_MS', default: 5000, parse: int(100, 3_600_000) },
  idleTimeoutMs: { env: 'FAAS_IDLE_TIMEOUT_MS', default: 300_000, parse: int(1000, 86_400_000) },
  restoreStandbys: { env: 'FAAS_RESTORE_STANDBYS', default: 4, parse: int(0, 64) },
  dependencyCacheMb: { env: 'FAAS_DEPENDENCY_CACHE_MB', default: 2048, parse: int(16, 1024 * 1024) },
  dockerHost: { env: 'DOCKER_HOST', default: undefined, parse: str },
  gatewayThreads: { env: 'FAAS_GATEWAY_THREADS', default: 0, parse: int(0, 64) },
  isolateHosts: { env: 'FAAS_ISOLATE_HOSTS', default: 0, parse: int(0, 64) },
  isolateMemoryMb: { env: 'FAAS_ISOLATE_MEMORY_MB', default: 0, parse: int(0, 1024 * 1024) },
  maxIsolates: { env: 'FAAS_MAX_ISOLATES', default: 10_000, parse: int(1, 1_000_000) },
  wasmWorkers: { env: 'FAAS_WASM_WORKERS', default: 8, parse: int(1, 256) },
  isolateStuckGraceMs: { env: 'FAAS_ISOLATE_STUCK_GRACE_MS', default: 1000, parse: int(100, 600_000) },
  maxFunctionMemoryMb: { env: 'FAAS_MAX_FUNCTION_MEMORY_MB', default: 1024, parse: int(8, 8192) },
  maxFunctionConcurrency: { env: 'FAAS_MAX_FUNCTION_CONCURRENCY', default: 100, parse: int(1, 10_000) },
  authFailureLimit: { env: 'FAAS_AUTH_FAILURE_LIMIT', default: 20, parse: int(0, 1_000_000) },
  authFailureWindowMs: { env: 'FAAS_AUTH_FAILURE_WINDOW_MS', default: 60_000, parse: int(1000, 86_400_000) },
  publicRateLimitRps: { env: 'FAAS_PUBLIC_RATE_LIMIT_RPS', default: 50, parse: rateLimitRps },
  publicRateLimitBurst: { env: 'FAAS_PUBLIC_RATE_LIMIT_BURST', default: 100, parse: int(1, 1_000_000) },
  jwtSecret: { env: 'FAAS_JWT_SECRET', default: undefined, parse: jwtSecret },
  secretKey: { env: 'FAAS_SECRET_KEY', default: undefined, parse: secretKey },
  secretKeyPrevious: { env: 'FAAS_SECRET_KEY_PREVIOUS', default: undefined, parse: secretKey },
  jwtPublicKey: { env: 'FAAS_JWT_PUBLIC_KEY', default: undefined, parse: pem },
  jwtJwksUrl: { env: 'FAAS_JWT_JWKS_URL', default: undefined, parse: httpUrl },
  jwtIssuer: { env: 'FAAS_JWT_ISSUER', default: undefined, parse: str },
  jwtAudience: { env: 'FAAS_JWT_AUDIENCE', default: undefined, parse: str },
  jwtProjectClaim: { env: 'FAAS_JWT_PROJECT_CLAIM', default: 'project', parse: str },
  jwtRoleClaim: { env: 'FAAS_JWT_ROLE_CLAIM', default: 'role', parse: str },
  jwtRateLimitRps: { env: 'FAAS_JWT_RATE_LIMIT_RPS', default: 0, parse: rateLimitRps },
  jwtRateLimitBurst: { env: 'FAAS_JWT_RATE_LIMIT_BURST', default: 100, parse: int(1, 1_000_000) },
  tlsCert: { env: 'FAAS_TLS_CERT', default: undefined, parse: str },
  tlsKey: { env: 'FAAS_TLS_KEY', default: undefined, parse: str },
  http2: { env: 'FAAS_HTTP2', default: true, parse: bool },
  triggerSandbox: { env: 'FAAS_TRIGGER_SANDBOX', default: true, parse: bool },
  trustedProxies: { env: 'FAAS_TRUSTED_PROXIES', default: [], parse: addressRanges },
  databaseUrl: { env: 'FAAS_DATABASE_URL', default: undefined, parse: databaseUrl },
  databasePoolSize: { env: 'FAAS_DATABASE_POOL_SIZE', default: 10, parse: int(1, 1000) },
  databaseMigrate: { env: 'FAAS_DATABASE_MIGRATE', default: true, parse: bool },
  objectStoreUrl: { env: 'FAAS_OBJECT_STORE_URL', default: undefined, parse: objectStoreUrl },
  s3Endpoint: { env: 'FAAS_S3_ENDPOINT', default: undefined, parse: s3Endpoint },
  s3Region: { env: 'FAAS_S3_REGION', default: undefined, parse: str },
  blobCacheMb: { env: 'FAAS_BLOB_CACHE_MB', default: 2048, parse: int(16, 1024 * 1024) },
  instanceMaxDownloadBytes: {
    env: 'FAAS_INSTANCE_MAX_DOWNLOAD_BYTES',
    default: 1024 ** 3,
    parse: int(1024, Number.MAX_SAFE_INTEGER),
  },
  instanceMaxMemoryMb: { env: 'FAAS_INSTANCE_MAX_MEMORY_MB', default: 4096, parse: int(16, 1024 * 1024) },
  instanceMaxDiskMb: { env: 'FAAS_INSTANCE_MAX_DISK_MB', default: 4096, parse: int(1, 1024 * 1024) },
  instanceMaxCpus: { env: 'FAAS_INSTANCE_MAX_CPUS', default: 4, parse: num(0.05, 1024) },
  instanceMaxPids: { env: 'FAAS_INSTANCE_MAX_PIDS', default: 4096, parse: int(8, 4_194_304) },
  instanceMaxIdleTtlMs: {
    env: 'FAAS_INSTANCE_MAX_IDLE_TTL_MS',
    default: 86_400_000,
    parse: int(0, 365 * 86_400_000),
  },
  instanceMaxPerKey: { env: 'FAAS_INSTANCE_MAX_PER_KEY', default: 16, parse: int(1, 100_000) },
  instanceMaxTotal: { env: 'FAAS_INSTANCE_MAX_TOTAL', default: 64, parse: int(1, 100_000) },
  allowNonRegistryDependencies: { env: 'FAAS_ALLOW_NON_REGISTRY_DEPENDENCIES', default: false, parse: bool },
  npmRegistry: { env: 'FAAS_NPM_REGISTRY', default: 'https://registry.npmjs.org/', parse: httpUrl },
  pipIndexUrl: { env: 'FAAS_PIP_INDEX_URL', default: 'https://pypi.org/simple', parse: httpUrl },
  metricsToken: { env: 'FAAS_METRICS_TOKEN', default: undefined, parse: adminKey },
  otlpEndpoint: { env: 'OTEL_EXPORTER_OTLP_ENDPOINT', default: undefined, parse: otlpUrl },
  otlpTracesEndpoint: { env: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', default: undefined, parse: otlpUrl },
  otelServiceName: { env: 'OTEL_SERVICE_NAME', default: 'faas', parse: str },
  otelTracesSampler: { env: 'OTEL_TRACES_SAMPLER', default: 'parentbased_always_on', parse: tracesSampler },
  otelTracesSamplerArg: { env: 'OTEL_TRACES_SAMPLER_ARG', default: 1, parse: num(0, 1) },
  role: { env: 'FAAS_ROLE', default: 'all', parse: nodeRole },
  advertiseUrl: { env: 'FAAS_ADVERTISE_URL', default: undefined, parse: advertiseUrl },
  clusterSecret: { env: 'FAAS_CLUSTER_SECRET', default: undefined, parse: adminKey },
  workerTimeoutMs: { env: 'FAAS_WORKER_TIMEOUT_MS', default: 5000, parse: int(1000, 600_000) },
};

/** What a `gateway` or `worker` node cannot run without: the backends every node shares, and the secret between them. */
const CLUSTER_NEEDS: ReadonlyArray<keyof Config> = [
  'databaseUrl',
  'queueUrl',
  'objectStoreUrl',
  'clusterSecret',
];

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
    if (name.startsWith('FAAS_') && !ENV_NAMES.has(name) && !isIgnoredEnv(name)) {
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
  if ((out.tlsCert === undefined) !== (out.tlsKey === undefined)) {
    problems.push('FAAS_TLS_CERT and FAAS_TLS_KEY: set both to serve HTTPS, or neither');
  }
  if (out.role === 'gateway' || out.role === 'worker') {
    const missing = CLUSTER_NEEDS.filter((key) => out[key] === undefined).map(
      (key) => CONFIG_FIELDS[key].env,
    );
    if (missing.length > 0) {
      problems.push(
        `FAAS_ROLE=${out.role}: needs the backends and secret every node of a cluster shares; set ${missing.join(', ')}`,
      );
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

/**
 * FAAS_TEST_* variables tell the test suites where their services are (FAAS_TEST_REDIS_URL):
 * CI exports them, and the servers the tests start inherit them.
 */
function isIgnoredEnv(name: string): boolean {
  return IGNORED_ENV.has(name) || name.startsWith('FAAS_TEST_');
}
