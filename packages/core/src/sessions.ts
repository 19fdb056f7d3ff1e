import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiKeyRecord } from './api-keys.ts';

/** How long a console session lasts after sign-in, whatever its use: then sign in again. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** How long a stream ticket can wait for its connection. */
export const TICKET_TTL_MS = 30_000;
/** Live sessions one API key has at most; past it its oldest ends (one key cannot crowd out the others). */
export const MAX_SESSIONS_PER_KEY = 100;
/** How long a session trusts its key without asking the store again (as the key cache does). */
export const KEY_RECHECK_MS = 5_000;

export interface Session {
  /** The key signed in with: the same identity the key's Bearer requests get. */
  key: ApiKeyRecord;
  /** Sent back in `x-csrf-token` on every write made with the cookie. */
  csrfToken: string;
  expiresAt: number;
}

export interface StreamTicket {
  /** The sha256 of the key it was issued to (undefined with auth off): checked again on redeem. */
  keyHash: string | undefined;
  instanceId: string;
  expiresAt: number;
}

/** Finds a key by its hash if it is still active (undefined when revoked): ApiKeyService.verifyHash. */
export type ActiveKey = (keyHash: string) => Promise<ApiKeyRecord | undefined>;

/**
 * The console's sessions and the instance stream's single-use tickets. A random id goes to the
 * browser, only its sha256 is kept (a dump or a log of the store holds nothing that signs in).
 * Sessions re-check their key every KEY_RECHECK_MS, so a revoked key ends its sessions as it ends
 * its requests. In memory (server gateway/session/memory-session-store.ts, one server) or in Redis
 * when FAAS_QUEUE_URL is set (server queue/redis/redis-session-store.ts: every gateway shares them).
 * @throws FaasError STORAGE_UNAVAILABLE from every method when the store cannot be reached
 */
export interface SessionStore {
  /** A new session for a verified key: the cookie's id (shown once) and the session. */
  create(key: ApiKeyRecord): Promise<{ id: string; session: Session }>;
  /** The live session of a cookie's id, its key re-checked with `active` when due. */
  find(id: string, active: ActiveKey): Promise<Session | undefined>;
  /** Ends a session (sign out); unknown ids are fine. */
  delete(id: string): Promise<void>;
  /** A ticket for one connection to one instance's stream, by the given key, for TICKET_TTL_MS. */
  issueTicket(
    key: ApiKeyRecord | undefined,
    instanceId: string,
  ): Promise<{ ticket: string; expiresAt: number }>;
  /** Takes a ticket: it is gone after this, whether it was valid or not; only one caller gets it. */
  redeemTicket(ticket: string, instanceId: string): Promise<StreamTicket | undefined>;
  close(): Promise<void>;
}

export function sessionHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A new random id or token (256 bits). */
export function sessionSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Whether a presented CSRF token is the session's (compared in constant time). */
export function csrfMatches(session: Session, presented: string | undefined): boolean {
  if (!presented) return false;
  const a = Buffer.from(session.csrfToken);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Whether a ticket taken from a store may open `instanceId`'s stream now. */
export function ticketValid(ticket: StreamTicket | undefined, instanceId: string, now: number): boolean {
  return ticket !== undefined && ticket.expiresAt > now && ticket.instanceId === instanceId;
}

/**
 * Keys found active lately, by session (its id's hash): what spares the metadata store a look-up on
 * every cookie request. Bounded: past `max` the oldest goes (it is only looked up again).
 */
export class CheckedKeys {
  #checked = new Map<string, { key: ApiKeyRecord; checkedAt: number }>();
  #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  /** The session's key: from this cache if checked within KEY_RECHECK_MS, else from `active`. */
  async resolve(
    sessionHash: string,
    keyHash: string,
    active: ActiveKey,
    now: number,
  ): Promise<ApiKeyRecord | undefined> {
    const cached = this.#checked.get(sessionHash);
    if (cached && cached.key.hash === keyHash && now - cached.checkedAt < KEY_RECHECK_MS) return cached.key;
    const key = await active(keyHash);
    if (!key) {
      this.#checked.delete(sessionHash);
      return undefined;
    }
    this.remember(sessionHash, key, now);
    return key;
  }

  remember(sessionHash: string, key: ApiKeyRecord, now: number): void {
    this.#checked.delete(sessionHash);
    if (this.#checked.size >= this.#max) dropOldestEntry(this.#checked);
    this.#checked.set(sessionHash, { key, checkedAt: now });
  }

  forget(sessionHash: string): void {
    this.#checked.delete(sessionHash);
  }
}

/** Drops a map's oldest entry: maps iterate in insertion order, so the first is the oldest. */
export function dropOldestEntry(map: Map<string, unknown>): void {
  const first = map.keys().next();
  if (!first.done) map.delete(first.value);
}
