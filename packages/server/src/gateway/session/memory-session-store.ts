import type { ApiKeyRecord } from '@faas/core';
import {
  type ActiveKey,
  CheckedKeys,
  dropOldestEntry,
  MAX_SESSIONS_PER_KEY,
  SESSION_TTL_MS,
  type Session,
  type SessionStore,
  type StreamTicket,
  sessionHash,
  sessionSecret,
  TICKET_TTL_MS,
  ticketValid,
} from '@faas/core';

/** Live sessions kept at most; past it the oldest goes (memory stays bounded under sign-in floods). */
const MAX_SESSIONS = 10_000;
const MAX_TICKETS = 10_000;

interface StoredSession {
  keyHash: string;
  csrfToken: string;
  expiresAt: number;
}

/**
 * Sessions and tickets in this process's memory: one server (no FAAS_QUEUE_URL). A restart signs
 * everyone out. Bounded: MAX_SESSIONS_PER_KEY per key, MAX_SESSIONS in all (the oldest end first).
 */
export class MemorySessionStore implements SessionStore {
  #sessions = new Map<string, StoredSession>();
  /** Each key's sessions, oldest first (Sets iterate in insertion order). */
  #byKey = new Map<string, Set<string>>();
  #tickets = new Map<string, StreamTicket>();
  #keys = new CheckedKeys(MAX_SESSIONS);
  #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
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
    // One key past its most ends its own oldest session, not another user's.
    const own = this.#byKey.get(key.hash) ?? new Set<string>();
    if (own.size >= MAX_SESSIONS_PER_KEY) this.#end(own.values().next().value as string);
    if (this.#sessions.size >= MAX_SESSIONS) this.#end(this.#sessions.keys().next().value as string);
    this.#sessions.set(hash, stored);
    own.add(hash);
    this.#byKey.set(key.hash, own);
    this.#keys.remember(hash, key, now);
    return { id, session: { key, csrfToken: stored.csrfToken, expiresAt: stored.expiresAt } };
  }

  async find(id: string, active: ActiveKey): Promise<Session | undefined> {
    const hash = sessionHash(id);
    const stored = this.#sessions.get(hash);
    const now = this.#now();
    if (!stored) return undefined;
    const key =
      stored.expiresAt > now ? await this.#keys.resolve(hash, stored.keyHash, active, now) : undefined;
    if (!key) {
      this.#end(hash);
      return undefined;
    }
    return { key, csrfToken: stored.csrfToken, expiresAt: stored.expiresAt };
  }

  async delete(id: string): Promise<void> {
    this.#end(sessionHash(id));
  }

  async issueTicket(
    key: ApiKeyRecord | undefined,
    instanceId: string,
  ): Promise<{ ticket: string; expiresAt: number }> {
    const ticket = sessionSecret();
    const expiresAt = this.#now() + TICKET_TTL_MS;
    if (this.#tickets.size >= MAX_TICKETS) this.#sweepTickets();
    if (this.#tickets.size >= MAX_TICKETS) dropOldestEntry(this.#tickets);
    this.#tickets.set(sessionHash(ticket), { keyHash: key?.hash, instanceId, expiresAt });
    return { ticket, expiresAt };
  }

  async redeemTicket(ticket: string, instanceId: string): Promise<StreamTicket | undefined> {
    const hash = sessionHash(ticket);
    const found = this.#tickets.get(hash);
    this.#tickets.delete(hash);
    return ticketValid(found, instanceId, this.#now()) ? found : undefined;
  }

  async close(): Promise<void> {}

  #end(hash: string): void {
    const stored = this.#sessions.get(hash);
    const own = stored && this.#byKey.get(stored.keyHash);
    own?.delete(hash);
    if (stored && own?.size === 0) this.#byKey.delete(stored.keyHash);
    this.#sessions.delete(hash);
    this.#keys.forget(hash);
  }

  #sweepTickets(): void {
    const now = this.#now();
    for (const [hash, ticket] of this.#tickets) if (ticket.expiresAt <= now) this.#tickets.delete(hash);
  }
}
