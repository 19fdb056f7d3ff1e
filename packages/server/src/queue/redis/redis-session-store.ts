import { readFileSync } from 'node:fs';
import {
  type ActiveKey,
  type ApiKeyRecord,
  CheckedKeys,
  ErrorCode,
  FaasError,
  MAX_SESSIONS_PER_KEY,
  redactUrl,
  SESSION_TTL_MS,
  type Session,
  type SessionStore,
  type StreamTicket,
  sessionHash,
  sessionSecret,
  TICKET_TTL_MS,
  ticketValid,
} from '@faas/core';
import type { Redis } from 'ioredis';
import { connectRedis } from './redis-connection.ts';
import { toRedisStorageError } from './redis-errors.ts';

const CREATE_SCRIPT = readFileSync(new URL('./scripts/session-create.lua', import.meta.url), 'utf8');
const END_SCRIPT = readFileSync(new URL('./scripts/session-end.lua', import.meta.url), 'utf8');

type WithScripts = Redis & {
  faasSessionCreate(...args: Array<string | number>): Promise<number>;
  faasSessionEnd(...args: Array<string | number>): Promise<number>;
};

/** A cookie request waits this long for Redis before it is answered 503. */
const TIMEOUT_MS = 2_000;
/** Sessions whose key this gateway checked lately, kept at most (a cache: Redis has them all). */
const MAX_CHECKED = 10_000;

/** What Redis holds of a session: no key, no id, only what the session needs. */
interface StoredSession {
  keyHash: string;
  csrfToken: string;
  expiresAt: number;
}

/**
 * Sessions and tickets in Redis (FAAS_QUEUE_URL), under the queue's prefix: every gateway signs in
 * and out the same users and redeems the same tickets, and a restart signs no one out. Keys are
 * the sha256 of the session id or ticket; each expires with Redis's TTL. A ticket is taken with
 * GETDEL, so two gateways redeeming it at once cannot both have it. Each gateway keeps only which
 * keys it found active lately (KEY_RECHECK_MS); a sign-out anywhere ends the session everywhere
 * at once, since every request reads its session from Redis. A key has at most
 * MAX_SESSIONS_PER_KEY live sessions (its oldest end first): one key's sign-ins cannot fill the
 * Redis the queue of every project lives in.
 */
export class RedisSessionStore implements SessionStore {
  #redis: WithScripts;
  #prefix: string;
  #where: string;
  #keys = new CheckedKeys(MAX_CHECKED);
  #now: () => number;

  constructor(redis: Redis, prefix: string, where: string, now: () => number = Date.now) {
    redis.defineCommand('faasSessionCreate', { numberOfKeys: 2, lua: CREATE_SCRIPT });
    redis.defineCommand('faasSessionEnd', { numberOfKeys: 1, lua: END_SCRIPT });
    this.#redis = redis as WithScripts;
    // The queue's hash tag, as every key of the deployment has it.
    this.#prefix = `{${prefix}}:`;
    this.#where = where;
    this.#now = now;
  }

  /** @throws FaasError STORAGE_UNAVAILABLE naming FAAS_QUEUE_URL when Redis cannot be reached at start */
  static async open(
    url: string,
    prefix: string,
    logger: Pick<Console, 'warn'> = console,
    now: () => number = Date.now,
  ): Promise<RedisSessionStore> {
    const redis = await connectRedis({ url, setting: 'FAAS_QUEUE_URL', timeoutMs: TIMEOUT_MS, logger });
    return new RedisSessionStore(redis, prefix, redactUrl(url), now);
  }

  async create(key: ApiKeyRecord): Promise<{ id: string; session: Session }> {
    const id = sessionSecret();
    const hash = sessionHash(id);
    const now = this.#now();
    const stored: StoredSession = {
      keyHash: key.hash,
      csrfToken: sessionSecret(),
      expiresAt: now + SESSION_TTL_MS,
    };
    await this.#call(() =>
      this.#redis.faasSessionCreate(
        this.#session(hash),
        this.#sessionsOf(key.hash),
        JSON.stringify(stored),
        SESSION_TTL_MS,
        stored.expiresAt,
        now,
        hash,
        MAX_SESSIONS_PER_KEY,
        `${this.#prefix}session:`,
      ),
    );
    this.#keys.remember(hash, key, now);
    return { id, session: { key, csrfToken: stored.csrfToken, expiresAt: stored.expiresAt } };
  }

  async find(id: string, active: ActiveKey): Promise<Session | undefined> {
    const hash = sessionHash(id);
    const stored = parseSession(await this.#call(() => this.#redis.get(this.#session(hash))));
    const now = this.#now();
    if (!stored) {
      this.#keys.forget(hash);
      return undefined;
    }
    const key =
      stored.expiresAt > now ? await this.#keys.resolve(hash, stored.keyHash, active, now) : undefined;
    if (!key) {
      // Revoked (or past its time on this clock): ended for every gateway.
      await this.#end(hash);
      return undefined;
    }
    return { key, csrfToken: stored.csrfToken, expiresAt: stored.expiresAt };
  }

  async delete(id: string): Promise<void> {
    await this.#end(sessionHash(id));
  }

  async issueTicket(
    key: ApiKeyRecord | undefined,
    instanceId: string,
  ): Promise<{ ticket: string; expiresAt: number }> {
    const ticket = sessionSecret();
    const expiresAt = this.#now() + TICKET_TTL_MS;
    const stored: StreamTicket = { keyHash: key?.hash, instanceId, expiresAt };
    await this.#call(() =>
      this.#redis.set(this.#ticket(sessionHash(ticket)), JSON.stringify(stored), 'PX', TICKET_TTL_MS),
    );
    return { ticket, expiresAt };
  }

  async redeemTicket(ticket: string, instanceId: string): Promise<StreamTicket | undefined> {
    // GETDEL: read and removed in one command, so one caller only ever gets it.
    const found = parseTicket(await this.#call(() => this.#redis.getdel(this.#ticket(sessionHash(ticket)))));
    return ticketValid(found, instanceId, this.#now()) ? found : undefined;
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }

  async #end(hash: string): Promise<void> {
    this.#keys.forget(hash);
    await this.#call(() =>
      this.#redis.faasSessionEnd(this.#session(hash), `${this.#prefix}sessions-of:`, hash),
    );
  }

  #session(hash: string): string {
    return `${this.#prefix}session:${hash}`;
  }

  /** A key's live sessions: what bounds them (session-create.lua). */
  #sessionsOf(keyHash: string): string {
    return `${this.#prefix}sessions-of:${keyHash}`;
  }

  #ticket(hash: string): string {
    return `${this.#prefix}ticket:${hash}`;
  }

  /** A Redis call whose every failure is a storage error (503), never a 500 nor a signed-in answer. */
  async #call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      const mapped = toRedisStorageError(err, this.#where);
      if (mapped instanceof FaasError) throw mapped;
      throw new FaasError(ErrorCode.STORAGE_UNAVAILABLE, `The sessions' Redis (${this.#where}) failed`, {
        details: { backend: 'sessions', redis: this.#where },
        cause: err,
      });
    }
  }
}

function parseJson(text: string | null): Record<string, unknown> | undefined {
  if (text === null) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A stored session, or undefined for anything else under its key (none is taken on trust). */
function parseSession(text: string | null): StoredSession | undefined {
  const v = parseJson(text);
  if (typeof v?.keyHash !== 'string' || typeof v.csrfToken !== 'string' || typeof v.expiresAt !== 'number') {
    return undefined;
  }
  return { keyHash: v.keyHash, csrfToken: v.csrfToken, expiresAt: v.expiresAt };
}

function parseTicket(text: string | null): StreamTicket | undefined {
  const v = parseJson(text);
  if (typeof v?.instanceId !== 'string' || typeof v.expiresAt !== 'number') return undefined;
  if (v.keyHash !== undefined && typeof v.keyHash !== 'string') return undefined;
  return { keyHash: v.keyHash, instanceId: v.instanceId, expiresAt: v.expiresAt };
}
