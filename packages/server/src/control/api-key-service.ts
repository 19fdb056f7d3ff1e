import { createHash, randomBytes } from 'node:crypto';
import {
  type ApiKeyChanges,
  type ApiKeyRecord,
  type ApiKeyRole,
  DEFAULT_PROJECT,
  ErrorCode,
  FaasError,
  isFaasError,
  type MetadataStore,
  newId,
} from '@faas/core';
import { AuthThrottle } from './auth-throttle.ts';
import { JwtTokens } from './jwt-tokens.ts';

const KEY_PREFIX = 'faas_';
/** The name of the key FAAS_ADMIN_KEY registers; reserved, so that key can be found again. */
export const CONFIGURED_ADMIN_KEY_NAME = 'admin (FAAS_ADMIN_KEY)';
/**
 * How long a verified key is trusted without asking the store, by default: the backstop for
 * another process's revocation when its announcement (`forgetAll`, on PostgreSQL's NOTIFY) is
 * missed. A server passes FAAS_ROUTE_SYNC_MS, the backstop of every such change.
 */
const DEFAULT_CACHE_TTL_MS = 5_000;

export type PublicApiKey = Omit<ApiKeyRecord, 'hash'>;

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * API keys: random 256-bit secrets of which only the sha256 is stored (a fast hash is right for
 * high-entropy keys; slow hashes are for passwords). Verified keys are cached briefly so the hot
 * path does not query the store; this process's own revocations take effect at once.
 */
export class ApiKeyService {
  #store: MetadataStore;
  #cache = new Map<string, { key: ApiKeyRecord; until: number }>();
  #onChanged: (id: string) => void;
  #jwt: JwtTokens | undefined;
  #cacheTtlMs: number;
  /** Failed verifications per client address (see auth.ts, which knows the address). */
  readonly throttle: AuthThrottle;

  /**
   * `onChanged` tells the other gateway threads of a revoked or changed key, whose caches would
   * trust the old record a while longer.
   * `throttle` is per process thread: with N gateway threads a client gets up to N allowances.
   */
  constructor(
    store: MetadataStore,
    onChanged: (id: string) => void = () => {},
    throttle = new AuthThrottle({ limit: 0, windowMs: 60_000 }),
    jwt?: JwtTokens,
    cacheTtlMs = DEFAULT_CACHE_TTL_MS,
  ) {
    this.#store = store;
    this.#onChanged = onChanged;
    this.throttle = throttle;
    this.#jwt = jwt;
    this.#cacheTtlMs = cacheTtlMs;
  }

  /**
   * Returns the key's record, or undefined when it is unknown or revoked. With JWTs configured, a
   * JWT is verified instead and acts as a key of its claims, trusted until it expires.
   * @throws FaasError TOKEN_EXPIRED, TOKEN_NOT_YET_VALID, TOKEN_INVALID for a JWT that fails
   */
  async verify(secret: string): Promise<ApiKeyRecord | undefined> {
    const now = Date.now();
    const cached = this.verifyCached(secret, now);
    if (cached) return cached;
    if (this.#jwt && JwtTokens.looksLikeJwt(secret)) {
      const { key, expiresAtMs } = await this.#jwt.verify(secret);
      this.#remember(secret, key, Math.min(now + this.#cacheTtlMs, expiresAtMs ?? Number.POSITIVE_INFINITY));
      return key;
    }
    const key = await this.#store.findApiKeyByHash(hashKey(secret));
    if (key) {
      this.#remember(secret, key, now + this.#cacheTtlMs);
    } else {
      this.#cache.delete(secret);
    }
    return key;
  }

  /**
   * The active key with this sha256, from the store (the console's sessions hold the hash, never
   * the key). Undefined when it is unknown or revoked.
   */
  async verifyHash(hash: string): Promise<ApiKeyRecord | undefined> {
    const key = await this.#store.findApiKeyByHash(hash);
    return key && !key.revokedAt ? key : undefined;
  }

  #remember(secret: string, key: ApiKeyRecord, until: number): void {
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(secret, { key, until });
  }

  /** `verify` from the cache alone: undefined also when the key was not looked up lately. */
  verifyCached(secret: string, now = Date.now()): ApiKeyRecord | undefined {
    // Keyed by the secret, not its hash: a hit costs no sha256 (the secret is in memory anyway).
    const cached = this.#cache.get(secret);
    return cached && cached.until > now ? cached.key : undefined;
  }

  /** A new key from the API. @throws FaasError VALIDATION for the name FAAS_ADMIN_KEY's key has */
  async createNamed(
    name: string,
    role: ApiKeyRole,
    project: string,
    narrowed: Pick<ApiKeyRecord, 'scopes' | 'functions' | 'expiresAt' | 'rateLimit'> = {},
  ): Promise<{ record: PublicApiKey; key: string }> {
    if (name === CONFIGURED_ADMIN_KEY_NAME) throw reservedName(name);
    return this.create(name, role, project, generateKey(), narrowed);
  }

  async create(
    name: string,
    role: ApiKeyRole,
    project: string = DEFAULT_PROJECT,
    secret = generateKey(),
    narrowed: Pick<ApiKeyRecord, 'scopes' | 'functions' | 'expiresAt' | 'rateLimit'> = {},
  ): Promise<{ record: PublicApiKey; key: string }> {
    const record: ApiKeyRecord = {
      id: newId('key'),
      name,
      project,
      role,
      ...narrowed,
      prefix: secret.slice(0, KEY_PREFIX.length + 6),
      hash: hashKey(secret),
      createdAt: new Date().toISOString(),
    };
    await this.#store.createApiKey(record);
    return { record: toPublic(record), key: secret };
  }

  /** Active keys; with `project`, that project's only. */
  async list(project?: string): Promise<PublicApiKey[]> {
    return (await this.#store.listApiKeys())
      .filter((k) => !k.revokedAt && (project === undefined || k.project === project))
      .map(toPublic);
  }

  /**
   * @param project when given, a key of another project is not found
   * @returns the project the key was of (where its revocation is audited)
   */
  async revoke(id: string, project?: string): Promise<string> {
    const key = (await this.list(project)).find((k) => k.id === id);
    if (!key || !(await this.#store.revokeApiKey(id))) throw keyNotFound(id);
    this.forget(id);
    this.#onChanged(id);
    return key.project;
  }

  /**
   * Changes a key's name, rate limit or expiry. Every thread of this server takes the new record
   * in before this returns; other servers when they hear the revision move, as with a revocation.
   * @param project when given, a key of another project is not found
   * @throws FaasError API_KEY_NOT_FOUND, VALIDATION for the name FAAS_ADMIN_KEY's key has
   */
  async update(id: string, changes: ApiKeyChanges, project?: string): Promise<PublicApiKey> {
    if (changes.name === CONFIGURED_ADMIN_KEY_NAME) throw reservedName(changes.name);
    if (project !== undefined && !(await this.list(project)).some((k) => k.id === id)) throw keyNotFound(id);
    const updated = await this.#store.updateApiKey(id, changes);
    if (!updated) throw keyNotFound(id);
    this.forget(id);
    this.#onChanged(id);
    return toPublic(updated);
  }

  /** Stops trusting a cached key (revoked or changed here or by another thread). */
  forget(id: string): void {
    for (const [secret, entry] of this.#cache) if (entry.key.id === id) this.#cache.delete(secret);
  }

  /**
   * Stops trusting every cached key: another process changed the store (the revision moved),
   * maybe revoking or changing one of them. Each is read again on its next use.
   */
  forgetAll(): void {
    this.#cache.clear();
  }

  /**
   * Makes sure an admin key exists. With `configured` (FAAS_ADMIN_KEY) that key is registered if
   * new, and a different key registered from FAAS_ADMIN_KEY before is revoked; otherwise, on a first start with no keys at all, one is generated and returned so the
   * caller can print it once.
   */
  async bootstrap(configured: string | undefined): Promise<string | undefined> {
    if (configured !== undefined) {
      const hash = hashKey(configured);
      // A changed FAAS_ADMIN_KEY is a rotation: the key configured before stops working.
      for (const key of await this.#store.listApiKeys()) {
        if (key.name === CONFIGURED_ADMIN_KEY_NAME && !key.revokedAt && key.hash !== hash) {
          await this.#store.revokeApiKey(key.id);
        }
      }
      if (!(await this.#store.findApiKeyByHash(hash))) {
        try {
          await this.create(CONFIGURED_ADMIN_KEY_NAME, 'admin', DEFAULT_PROJECT, configured);
        } catch (err) {
          // Another server on the same store (PostgreSQL) registered it at the same moment.
          const raced = isFaasError(err) && err.code === ErrorCode.CONFLICT;
          if (!raced || !(await this.#store.findApiKeyByHash(hash))) throw err;
        }
      }
      return undefined;
    }
    if ((await this.#store.countApiKeys()) > 0) return undefined;
    const { key } = await this.create('admin', 'admin');
    return key;
  }
}

export function generateKey(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url');
}

function keyNotFound(id: string): FaasError {
  return new FaasError(ErrorCode.API_KEY_NOT_FOUND, `API key "${id}" not found`, { details: { id } });
}

function reservedName(name: string): FaasError {
  return new FaasError(ErrorCode.VALIDATION, `The key name "${name}" is reserved for FAAS_ADMIN_KEY`, {
    details: [{ field: 'name', message: 'is reserved for FAAS_ADMIN_KEY' }],
  });
}

function toPublic(k: ApiKeyRecord): PublicApiKey {
  const { hash: _hash, ...rest } = k;
  return rest;
}
