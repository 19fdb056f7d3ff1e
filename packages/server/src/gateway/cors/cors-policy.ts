import {
  CORS_DEFAULT_HEADERS,
  CORS_DEFAULT_METHODS,
  type CorsSettings,
  ErrorCode,
  FaasError,
} from '@faas/core';

/** Request headers a preflight may name at most: past this, it is refused unread. */
const MAX_REQUESTED_HEADERS = 64;
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/** A preflight's answer depends on these as much as on Origin. */
const PREFLIGHT_VARY = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';

/**
 * One project's CORS settings made ready for requests: sets to look in and header values written
 * once, when the projects are loaded, never per request.
 */
export class CorsPolicy {
  readonly settings: CorsSettings;
  /** undefined: any origin (`*`). */
  #origins: ReadonlySet<string> | undefined;
  #methods: ReadonlySet<string>;
  #methodsText: string;
  /** undefined: any header the preflight names (`*`). */
  #headers: ReadonlySet<string> | undefined;
  #expose: string | undefined;
  #credentials: boolean;
  #maxAge: string | undefined;

  constructor(settings: CorsSettings) {
    this.settings = settings;
    this.#origins = settings.allowOrigins.includes('*') ? undefined : new Set(settings.allowOrigins);
    const methods: readonly string[] = settings.allowMethods ?? CORS_DEFAULT_METHODS;
    this.#methods = new Set(methods);
    this.#methodsText = methods.join(', ');
    const headers: readonly string[] = settings.allowHeaders ?? CORS_DEFAULT_HEADERS;
    this.#headers = headers.includes('*') ? undefined : new Set(headers);
    this.#expose = settings.exposeHeaders?.join(', ');
    this.#credentials = settings.allowCredentials === true;
    this.#maxAge = settings.maxAgeSeconds === undefined ? undefined : String(settings.maxAgeSeconds);
  }

  /** Whether `origin` (the request's Origin header, as sent) is one the project lists. */
  allows(origin: string): boolean {
    return this.#origins === undefined || this.#origins.has(origin);
  }

  /**
   * The CORS headers of an actual response to `origin`: the origin allowed (and credentials, when
   * the project allows them and `credentials` says the path may), or only `Vary: Origin` when it
   * is not, so no cache serves one origin's answer to another.
   */
  responseHeaders(origin: string, credentials: boolean): Record<string, string> {
    if (this.#origins === undefined) {
      // Any origin, never with credentials (validateCors): the answer is the same for all.
      const headers: Record<string, string> = { 'access-control-allow-origin': '*' };
      if (this.#expose) headers['access-control-expose-headers'] = this.#expose;
      return headers;
    }
    if (!this.#origins.has(origin)) return { vary: 'Origin' };
    const headers: Record<string, string> = { 'access-control-allow-origin': origin, vary: 'Origin' };
    if (credentials && this.#credentials) headers['access-control-allow-credentials'] = 'true';
    if (this.#expose) headers['access-control-expose-headers'] = this.#expose;
    return headers;
  }

  /**
   * A preflight's answer: its headers when the origin, the method and every header it asks for
   * are allowed, else a reason to refuse it.
   */
  preflight(
    origin: string,
    method: string,
    requestHeaders: string | undefined,
    credentials: boolean,
  ): { headers: Record<string, string> } | { refused: string } {
    if (!this.allows(origin)) return { refused: 'the origin is not one the project allows' };
    if (!this.#methods.has(method)) return { refused: `the method ${method.slice(0, 32)} is not allowed` };
    const asked = parseHeaderList(requestHeaders);
    if (asked === undefined)
      return { refused: 'Access-Control-Request-Headers is not a list of header names' };
    if (this.#headers !== undefined) {
      for (const name of asked) {
        if (!this.#headers.has(name)) return { refused: `the header ${name.slice(0, 64)} is not allowed` };
      }
    }
    const headers: Record<string, string> = {
      'access-control-allow-origin': this.#origins === undefined ? '*' : origin,
      'access-control-allow-methods': this.#methodsText,
      vary: PREFLIGHT_VARY,
    };
    // The headers asked for, once checked: a literal `*` does not cover Authorization.
    if (asked.length > 0) headers['access-control-allow-headers'] = asked.join(', ');
    if (credentials && this.#credentials) headers['access-control-allow-credentials'] = 'true';
    if (this.#maxAge !== undefined) headers['access-control-max-age'] = this.#maxAge;
    return { headers };
  }
}

/** Whether a request is a CORS preflight: OPTIONS naming the method it asks for. */
export function isPreflight(method: string, headers: { 'access-control-request-method'?: unknown }): boolean {
  return method === 'OPTIONS' && typeof headers['access-control-request-method'] === 'string';
}

/** A refused preflight, in the error format, with nothing of the project's settings in it. */
export function preflightRefused(reason: string): FaasError {
  return new FaasError(ErrorCode.FORBIDDEN, `CORS preflight refused: ${reason}`);
}

/** Header names of Access-Control-Request-Headers, lowercase; undefined when malformed or too many. */
function parseHeaderList(value: string | undefined): string[] | undefined {
  if (value === undefined) return [];
  const names: string[] = [];
  for (const part of value.split(',')) {
    const name = part.trim().toLowerCase();
    if (name.length === 0) continue;
    if (!TOKEN.test(name) || names.length === MAX_REQUESTED_HEADERS) return undefined;
    names.push(name);
  }
  return names;
}
