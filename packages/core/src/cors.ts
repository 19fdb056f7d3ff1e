import { ErrorCode, FaasError } from './errors.ts';

/**
 * A project's CORS settings (issue 19): which browser origins may call its functions (and the
 * API with its keys). Absent: no CORS headers at all, the default.
 *
 * @example { allowOrigins: ['https://app.example.com'], allowCredentials: true, maxAgeSeconds: 600 }
 */
export interface CorsSettings {
  /** Origins as browsers send them (`scheme://host[:port]`), or `["*"]` alone: any origin. */
  allowOrigins: string[];
  /** Methods a preflight may ask for. @default CORS_DEFAULT_METHODS */
  allowMethods?: string[];
  /** Request headers a preflight may ask for (lowercase), or `["*"]`: any. @default CORS_DEFAULT_HEADERS */
  allowHeaders?: string[];
  /** Response headers the page's script may read beyond the CORS-safelisted ones. @default none */
  exposeHeaders?: string[];
  /**
   * Whether the browser sends cookies and HTTP auth on calls to the project's functions and
   * lets the page read the answer. Refused with `*` (browsers refuse it too). Never on /api/v1.
   * @default false
   */
  allowCredentials?: boolean;
  /** How long a browser may keep a preflight's answer. @default the browser's (5 s in Chromium) */
  maxAgeSeconds?: number;
}

export const CORS_DEFAULT_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export const CORS_DEFAULT_HEADERS = ['authorization', 'content-type'] as const;

/** Bounds on a project's CORS settings: each list is read on preflights, so it stays small. */
export const CORS_LIMITS = {
  origins: 64,
  methods: 16,
  headers: 64,
  originLength: 253 + 'https://'.length + ':65535'.length,
  headerLength: 128,
  maxAgeSeconds: 86_400,
} as const;

/** An HTTP token (RFC 9110 §5.6.2): what a method or a header name is made of. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * The settings checked and normalised (methods uppercase, header names lowercase, duplicates
 * dropped, defaults left absent).
 * @throws FaasError VALIDATION naming every field that is wrong
 */
export function validateCors(input: CorsSettings): CorsSettings {
  const problems: Array<{ field: string; message: string }> = [];
  const problem = (field: string, message: string) => problems.push({ field, message });

  const origins = unique(input.allowOrigins);
  if (origins.length === 0) problem('cors.allowOrigins', 'must name at least one origin, or "*"');
  if (origins.length > CORS_LIMITS.origins)
    problem('cors.allowOrigins', `must have at most ${CORS_LIMITS.origins} origins`);
  if (origins.includes('*') && origins.length > 1)
    problem('cors.allowOrigins', '"*" stands alone: it already allows every origin');
  for (const origin of origins) {
    if (origin !== '*' && !isOrigin(origin))
      problem(
        'cors.allowOrigins',
        `"${origin.slice(0, 64)}" is not an origin: scheme://host[:port], lowercase, no path, as browsers send it`,
      );
  }
  if (input.allowCredentials === true && origins.includes('*'))
    problem('cors.allowCredentials', 'cannot be true with the origin "*": name the origins');

  const methods = input.allowMethods && unique(input.allowMethods.map((m) => m.toUpperCase()));
  if (methods) checkTokens(methods, 'cors.allowMethods', CORS_LIMITS.methods, problem, false);
  const headers = input.allowHeaders && unique(input.allowHeaders.map((h) => h.toLowerCase()));
  if (headers) checkTokens(headers, 'cors.allowHeaders', CORS_LIMITS.headers, problem, true);
  const expose = input.exposeHeaders && unique(input.exposeHeaders.map((h) => h.toLowerCase()));
  if (expose) checkTokens(expose, 'cors.exposeHeaders', CORS_LIMITS.headers, problem, false);
  const maxAge = input.maxAgeSeconds;
  if (
    maxAge !== undefined &&
    !(Number.isInteger(maxAge) && maxAge >= 0 && maxAge <= CORS_LIMITS.maxAgeSeconds)
  )
    problem('cors.maxAgeSeconds', `must be a whole number from 0 to ${CORS_LIMITS.maxAgeSeconds}`);

  if (problems.length > 0) {
    throw new FaasError(
      ErrorCode.VALIDATION,
      `Invalid request: ${problems.map((p) => `${p.field} ${p.message}`).join('; ')}`,
      { details: problems },
    );
  }
  return {
    allowOrigins: origins,
    ...(methods ? { allowMethods: methods } : {}),
    ...(headers ? { allowHeaders: headers } : {}),
    ...(expose && expose.length > 0 ? { exposeHeaders: expose } : {}),
    ...(input.allowCredentials === true ? { allowCredentials: true } : {}),
    ...(maxAge !== undefined ? { maxAgeSeconds: maxAge } : {}),
  };
}

/**
 * Whether `value` is an origin exactly as a browser serialises it in the Origin header: a
 * scheme, a host and a port only when not the scheme's default. Anything else (a path, a final
 * slash, upper case, `null`) would never equal a request's Origin, or would match too much.
 */
export function isOrigin(value: string): boolean {
  if (value.length > CORS_LIMITS.originLength || !/^[a-z][a-z0-9+.-]*:\/\/[^/?#@\s]+$/.test(value))
    return false;
  try {
    const url = new URL(value);
    return url.origin === value && url.origin !== 'null';
  } catch {
    return false;
  }
}

function checkTokens(
  values: string[],
  field: string,
  max: number,
  problem: (field: string, message: string) => void,
  wildcard: boolean,
): void {
  if (values.length > max) problem(field, `must have at most ${max} entries`);
  if (wildcard && values.includes('*') && values.length > 1) problem(field, '"*" stands alone');
  for (const value of values) {
    if (wildcard && value === '*') continue;
    if (value.length > CORS_LIMITS.headerLength || !TOKEN.test(value))
      problem(field, `"${value.slice(0, 64)}" is not an HTTP token`);
  }
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
