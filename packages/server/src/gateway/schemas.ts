import {
  API_KEY_ROLES,
  CORS_LIMITS,
  DEPENDENCY_CACHE_NAMES,
  FUNCTION_LIMITS,
  FUNCTION_RUNTIMES,
  HTTP_METHODS,
  INVOCATION_STATUSES,
  MAX_FUNCTION_SECRETS,
  MAX_PAGE_LIMIT,
  QUOTA_NAMES,
  SCOPES,
  SECRET_NAME_PATTERN,
} from '@faas/core';

/** JSON Schemas of request parts; they validate input (422 on violation) and feed /docs. */

const route = {
  oneOf: [
    { type: 'string', description: '"METHOD /path", e.g. "GET /users/:id"' },
    {
      type: 'object',
      required: ['method', 'path'],
      additionalProperties: false,
      properties: { method: { type: 'string', enum: [...HTTP_METHODS, 'ANY'] }, path: { type: 'string' } },
    },
  ],
};

const code = {
  description:
    'One source file as a string, several files, a base64 archive, or a base64 WebAssembly module (wasm)',
  oneOf: [
    { type: 'string', minLength: 1 },
    {
      type: 'object',
      required: ['files'],
      additionalProperties: false,
      properties: { files: { type: 'object', minProperties: 1, additionalProperties: { type: 'string' } } },
    },
    {
      type: 'object',
      required: ['archive'],
      additionalProperties: false,
      properties: { archive: { type: 'string', minLength: 1 }, format: { enum: ['zip', 'tar.gz', 'tar'] } },
    },
    {
      type: 'object',
      required: ['wasm'],
      additionalProperties: false,
      properties: { wasm: { type: 'string', minLength: 1 } },
    },
  ],
};

const limit = (l: { min: number; max: number }) => ({ type: 'integer', minimum: l.min, maximum: l.max });

/** A token bucket (docs/rate-limits.md): a function's, a key's, a project's. */
const rateLimitSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['requestsPerSecond', 'burst'],
  properties: {
    requestsPerSecond: {
      type: 'number',
      minimum: FUNCTION_LIMITS.rateLimit.requestsPerSecond.min,
      maximum: FUNCTION_LIMITS.rateLimit.requestsPerSecond.max,
    },
    burst: limit(FUNCTION_LIMITS.rateLimit.burst),
  },
};

const functionFields = {
  name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' },
  runtime: { type: 'string', enum: [...FUNCTION_RUNTIMES] },
  code,
  handler: {
    type: 'string',
    minLength: 3,
    maxLength: 256,
    description: '"file.export", e.g. "index.default"',
  },
  env: { type: 'object', additionalProperties: { type: 'string' }, maxProperties: 256 },
  timeoutMs: limit(FUNCTION_LIMITS.timeoutMs),
  memoryMb: limit(FUNCTION_LIMITS.memoryMb),
  maxConcurrency: limit(FUNCTION_LIMITS.maxConcurrency),
  maxRetries: limit(FUNCTION_LIMITS.maxRetries),
  routes: { type: 'array', items: route, maxItems: 100 },
  description: { type: 'string', maxLength: 1024 },
  image: { type: 'string', minLength: 1 },
  command: {
    description:
      "image runtime: a string runs with the image's /bin/sh -c; an array is argv, its first word found on PATH",
    anyOf: [
      { type: 'string', minLength: 1 },
      { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 4096 },
    ],
  },
  isolation: { type: 'string', enum: ['runc', 'gvisor'] },
  network: { type: 'boolean' },
  public: {
    type: 'boolean',
    description:
      "HTTP triggers answer without a key. @default false: a key of the function's project is needed",
  },
  rateLimit: {
    description:
      'invocations per second (fractions allowed) and burst, on every path and every gateway; null removes it. @default none',
    anyOf: [rateLimitSchema, { type: 'null' }],
  },
  schedules: {
    type: 'array',
    items: { type: 'string', minLength: 1, maxLength: 128 },
    maxItems: FUNCTION_LIMITS.schedules.max,
    description:
      'cron expressions in UTC (5 fields, or 6 with seconds first); each tick is an async invocation',
  },
  secrets: {
    type: 'array',
    items: { type: 'string', pattern: SECRET_NAME_PATTERN.source },
    maxItems: MAX_FUNCTION_SECRETS,
    description:
      "names of the project's secrets the function sees as env (values are never stored in the version)",
  },
};

export const createFunctionBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'runtime'],
  properties: functionFields,
};

export const putFunctionBody = {
  type: 'object',
  additionalProperties: false,
  required: ['runtime'],
  properties: functionFields,
};

export const patchFunctionBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: functionFields,
};

/**
 * A whole number a query string or a path gives (a sequence number, a version), held to what a
 * number keeps exactly: past Number.MAX_SAFE_INTEGER, "9007199254740993" would be read as
 * another number, and `?afterSeq=1e30` came back as the next cursor.
 */
const wholeNumber = (minimum: number) => ({ type: 'integer', minimum, maximum: Number.MAX_SAFE_INTEGER });

export const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 80 } },
};

export const versionParams = {
  type: 'object',
  required: ['name', 'version'],
  properties: { name: { type: 'string' }, version: wholeNumber(1) },
};

export const pageQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE_LIMIT },
    cursor: { type: 'string', maxLength: 512 },
  },
};

export const invocationListQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...pageQuery.properties,
    functionName: { type: 'string', maxLength: 80 },
    status: { type: 'string', enum: [...INVOCATION_STATUSES] },
    since: { type: 'string', format: 'date-time' },
    until: { type: 'string', format: 'date-time' },
  },
};

export const invokeQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    version: { type: 'string', pattern: '^([1-9][0-9]*|latest)$' },
    async: { type: 'boolean' },
  },
};

export const logsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    functionName: { type: 'string', maxLength: 80 },
    afterSeq: wholeNumber(0),
    limit: { type: 'integer', minimum: 1, maximum: 1000 },
  },
};

export const putSecretBody = {
  type: 'object',
  additionalProperties: false,
  required: ['value'],
  properties: {
    value: { type: 'string', minLength: 1, description: 'at most MAX_SECRET_VALUE_BYTES (64 KiB) of UTF-8' },
  },
};

export const createKeyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 100 },
    role: { type: 'string', enum: [...API_KEY_ROLES], description: 'docs/security.md. @default developer' },
    scopes: {
      type: 'array',
      items: { type: 'string', enum: [...SCOPES] },
      uniqueItems: true,
      maxItems: SCOPES.length,
      description: "Narrower than the role: only these of the role's scopes",
    },
    functions: {
      type: 'array',
      items: { type: 'string', minLength: 1, maxLength: 63 },
      maxItems: 100,
      description: 'Only these functions of the project',
    },
    expiresAt: { type: 'string', format: 'date-time', description: 'When the key stops working' },
    rateLimit: {
      ...rateLimitSchema,
      description: 'Invocations per second made with this key. @default none',
    },
    project: {
      type: 'string',
      minLength: 1,
      maxLength: 63,
      description: "The project the key acts in. @default the creating key's project",
    },
  },
};

/** `PATCH /keys/{id}`: absent fields stay; role, scopes, functions and project never change. */
export const patchKeyBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 100 },
    rateLimit: {
      description: 'Invocations per second made with this key; null removes the limit',
      anyOf: [rateLimitSchema, { type: 'null' }],
    },
    expiresAt: {
      description: 'When the key stops working (a time in the future); null: never',
      anyOf: [{ type: 'string', format: 'date-time' }, { type: 'null' }],
    },
  },
};

export const createProjectBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 63 } },
};

/**
 * `PATCH /projects/{name}`: its rate limit (its owner or a platform admin), its host name and
 * quotas (a platform admin); absent fields stay.
 */
/** The bounds are CORS_LIMITS'; validateCors checks what a schema cannot (origins, tokens). */
function corsSchema() {
  const list = (maxItems: number, maxLength: number) => ({
    type: 'array',
    maxItems,
    items: { type: 'string', minLength: 1, maxLength },
  });
  return {
    type: 'object',
    additionalProperties: false,
    required: ['allowOrigins'],
    properties: {
      allowOrigins: list(CORS_LIMITS.origins, CORS_LIMITS.originLength),
      allowMethods: list(CORS_LIMITS.methods, CORS_LIMITS.headerLength),
      allowHeaders: list(CORS_LIMITS.headers, CORS_LIMITS.headerLength),
      exposeHeaders: list(CORS_LIMITS.headers, CORS_LIMITS.headerLength),
      allowCredentials: { type: 'boolean' },
      maxAgeSeconds: { type: 'integer', minimum: 0, maximum: CORS_LIMITS.maxAgeSeconds },
    },
  };
}

export const patchProjectBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    rateLimit: {
      description: "invocations per second of all the project's functions together; null removes it",
      anyOf: [rateLimitSchema, { type: 'null' }],
    },
    cors: {
      description:
        'Which browser origins may call its functions and the API with its keys; null: none (docs/security.md#cors)',
      anyOf: [corsSchema(), { type: 'null' }],
    },
    host: {
      description: 'The host name its declared routes answer on, alone; null: none',
      type: ['string', 'null'],
      maxLength: 253,
    },
    quotas: {
      description:
        "Quotas to change: a whole number sets one, null takes it away (unlimited; queuedInvocations: the operator's FAAS_MAX_QUEUED_PER_PROJECT)",
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: Object.fromEntries(
        QUOTA_NAMES.map((quota) => [
          quota,
          { type: ['integer', 'null'], minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
        ]),
      ),
    },
  },
};

/** The execute and instance APIs' opt-in shared package caches. */
export const dependencyCachesSchema = {
  type: 'array',
  items: { type: 'string', enum: [...DEPENDENCY_CACHE_NAMES] },
  uniqueItems: true,
  description:
    "The project's package caches to mount (size-capped, shared by the project's sandboxes that ask)",
};
