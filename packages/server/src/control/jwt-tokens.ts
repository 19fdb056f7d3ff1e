import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import {
  API_KEY_ROLES,
  type ApiKeyRecord,
  type ApiKeyRole,
  type Config,
  ErrorCode,
  FaasError,
  type RateLimit,
} from '@faas/core';
import {
  createRemoteJWKSet,
  errors,
  type FlattenedJWSInput,
  type JWSHeaderParameters,
  type JWTPayload,
  jwtVerify,
} from 'jose';

type RemoteKeys = ReturnType<typeof createRemoteJWKSet>;

/** A JWT's shape: three base64url parts, the first a JSON header (`{"` is `eyJ`). */
const JWT_SHAPE = /^eyJ[\w-]*\.[\w-]+\.[\w-]*$/;
/** Clocks of an identity provider and this server may differ this much. */
const CLOCK_TOLERANCE_S = 5;

export type JwtSettings = Pick<
  Config,
  | 'jwtSecret'
  | 'jwtPublicKey'
  | 'jwtJwksUrl'
  | 'jwtIssuer'
  | 'jwtAudience'
  | 'jwtProjectClaim'
  | 'jwtRoleClaim'
> &
  Partial<Pick<Config, 'jwtRateLimitRps' | 'jwtRateLimitBurst'>>;

/**
 * Tokens from an identity provider, accepted beside API keys: HS256 with a shared secret, or
 * RS256/ES256 with a public key or a JWKS. A verified token acts as a key of its `project` and
 * `role` claims (names configurable); nothing of it is stored. Each way it can be wrong is its own
 * 401: expired, not yet valid, or invalid with the reason (signature, algorithm, issuer,
 * audience, claims).
 */
export class JwtTokens {
  #settings: JwtSettings;
  #secret: KeyObject | undefined;
  #publicKey: KeyObject | undefined;
  #jwks: RemoteKeys | undefined;
  #algorithms: string[];
  /** Each subject's limit (FAAS_JWT_RATE_LIMIT_*), one object for all: its bucket shape is made once. */
  #rateLimit: RateLimit | undefined;

  private constructor(settings: JwtSettings) {
    this.#settings = settings;
    if (settings.jwtRateLimitRps)
      this.#rateLimit = {
        requestsPerSecond: settings.jwtRateLimitRps,
        burst: settings.jwtRateLimitBurst ?? 100,
      };
    if (settings.jwtSecret) this.#secret = createSecretKey(Buffer.from(settings.jwtSecret, 'utf8'));
    if (settings.jwtPublicKey) this.#publicKey = createPublicKey(settings.jwtPublicKey);
    if (settings.jwtJwksUrl) this.#jwks = createRemoteJWKSet(new URL(settings.jwtJwksUrl));
    this.#algorithms = [
      ...(this.#secret ? ['HS256'] : []),
      ...(this.#publicKey || this.#jwks ? ['RS256', 'ES256'] : []),
    ];
  }

  /** Undefined when no JWT setting is given: Bearer tokens are API keys only. */
  static from(settings: JwtSettings): JwtTokens | undefined {
    if (!settings.jwtSecret && !settings.jwtPublicKey && !settings.jwtJwksUrl) return undefined;
    return new JwtTokens(settings);
  }

  /** Whether a Bearer credential is a JWT rather than an API key (keys start `faas_`). */
  static looksLikeJwt(credential: string): boolean {
    return JWT_SHAPE.test(credential);
  }

  /**
   * The key the token stands for, and until when it may be trusted without verifying it again.
   * @throws FaasError TOKEN_EXPIRED, TOKEN_NOT_YET_VALID, TOKEN_INVALID
   */
  async verify(token: string): Promise<{ key: ApiKeyRecord; expiresAtMs: number | undefined }> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, (header, jws) => this.#keyFor(header, jws), {
        algorithms: this.#algorithms,
        clockTolerance: CLOCK_TOLERANCE_S,
        ...(this.#settings.jwtIssuer ? { issuer: this.#settings.jwtIssuer } : {}),
        ...(this.#settings.jwtAudience ? { audience: this.#settings.jwtAudience } : {}),
      }));
    } catch (err) {
      throw tokenError(err);
    }
    const { jwtProjectClaim, jwtRoleClaim } = this.#settings;
    const project = payload[jwtProjectClaim];
    const role = payload[jwtRoleClaim];
    if (typeof project !== 'string' || project.length === 0) {
      throw invalid(`The token has no "${jwtProjectClaim}" claim naming its project`);
    }
    if (typeof role !== 'string' || !(API_KEY_ROLES as readonly string[]).includes(role)) {
      throw invalid(`The token's "${jwtRoleClaim}" claim must be one of ${API_KEY_ROLES.join(', ')}`);
    }
    const subject = typeof payload.sub === 'string' ? payload.sub : 'unknown';
    const expiresAtMs = typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
    return {
      key: {
        id: `jwt:${subject}`.slice(0, 200),
        name: subject.slice(0, 200),
        project,
        role: role as ApiKeyRole,
        prefix: 'jwt',
        hash: '',
        createdAt: new Date((payload.iat ?? 0) * 1000).toISOString(),
        ...(expiresAtMs !== undefined ? { expiresAt: new Date(expiresAtMs).toISOString() } : {}),
        // The key's bucket is its id's: every token of one subject draws on the same one.
        ...(this.#rateLimit ? { rateLimit: this.#rateLimit } : {}),
      },
      expiresAtMs,
    };
  }

  /** The key for the token's algorithm (jwtVerify has refused algorithms not configured). */
  #keyFor(header: JWSHeaderParameters, jws: FlattenedJWSInput): KeyObject | ReturnType<RemoteKeys> {
    if (header.alg === 'HS256' && this.#secret) return this.#secret;
    if (this.#publicKey) return this.#publicKey;
    if (this.#jwks) return this.#jwks(header, jws).catch((err: unknown) => Promise.reject(jwksError(err)));
    throw invalid(`Tokens signed with ${header.alg} are not accepted`);
  }
}

function invalid(message: string): FaasError {
  return new FaasError(ErrorCode.TOKEN_INVALID, message);
}

/**
 * A failure to get the JWKS (unreachable, timed out, not 200, not a key set) is the provider's
 * moment, not the token's: 503, which the auth throttle does not count against the client.
 * A key set that has no key for the token is the token's (401).
 */
function jwksError(err: unknown): unknown {
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) return err;
  const why = err instanceof Error ? err.message : String(err);
  return new FaasError(
    ErrorCode.AUTH_UNAVAILABLE,
    `The keys of FAAS_JWT_JWKS_URL could not be fetched (${why}): try again later`,
    { cause: err },
  );
}

function tokenError(err: unknown): FaasError {
  if (err instanceof FaasError) return err;
  if (err instanceof errors.JWTExpired)
    return new FaasError(ErrorCode.TOKEN_EXPIRED, 'The token has expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf')
      return new FaasError(ErrorCode.TOKEN_NOT_YET_VALID, 'The token is not valid yet (nbf)');
    if (err.claim === 'iat' && err.reason === 'check_failed')
      return new FaasError(ErrorCode.TOKEN_NOT_YET_VALID, 'The token was issued in the future (iat)');
    return invalid(`The token's "${err.claim}" claim is wrong: ${err.message}`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed)
    return invalid(`The token's algorithm is not accepted: ${err.message}`);
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return invalid('The token signature does not verify');
  if (err instanceof errors.JWKSNoMatchingKey) return invalid('No key of the JWKS matches the token');
  if (err instanceof errors.JOSEError) return invalid(`The token is not a valid JWT: ${err.message}`);
  return invalid('The token is not a valid JWT');
}
