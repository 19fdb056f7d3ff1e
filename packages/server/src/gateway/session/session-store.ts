import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiKeyRecord } from '@faas/core';

/** How long a console session lasts after sign-in, whatever its use: then sign in again. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** How long a stream ticket can wait for its connection. */
export const TICKET_TTL_MS = 30_000;
/** Live sessions kept at most; past it the oldest goes (memory stays bounded under sign-in floods). */
const MAX_SESSIONS = 10_000;
const MAX_TICKETS = 10_000;
/** How long a session trusts its key without asking the store again (as the key cache does). */
const KEY_RECHECK_MS = 5_000;

export interface Session {
  /** The key signed in with: the same identity the key's Bearer requests get. */
  key: ApiKeyRecord;
  /** Sent back in `x-csrf-token` on every write made with the cookie. */
  csrfToken: string;
  expiresAt: number;
  /** When the key was last found active in the store. */
  checkedAt: number;
}

export interface StreamTicket {
  /** undefined with auth off. */
  key: ApiKeyRecord | undefined;
  instanceId: string;
  expiresAt: number;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function secret(): string {
  return randomBytes(32).toString('base64url');
}

/** Whether a presented CSRF token is the session's (compared in constant time). */
export function csrfMatches(session: Session, presented: string | undefined): boolean {
  if (!presented) return false;
  const a = Buffer.from(session.csrfToken);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The console's sessions and the instance stream's tickets, in this process's memory: a random
 * id goes to the browser, only its sha256 is kept (a dump of memory or a log holds nothing that
 * signs in). A restart signs everyone out. Sessions re-check their key in the store every few
 * seconds, so a revoked key ends its sessions as it ends its requests.
 */
export class SessionStore {
  #sessions = new Map<string, Session>();
  #tickets = new Map<string, StreamTicket>();
  #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** A new session for a verified key: the cookie's id (shown once) and the session. */
  create(key: ApiKeyRecord): { id: string; session: Session } {
    const id = secret();
    const now = this.#now();
    const session: Session = { key, csrfToken: secret(), expiresAt: now + SESSION_TTL_MS, checkedAt: now };
    if (this.#sessions.size >= MAX_SESSIONS) this.#dropOldest(this.#sessions);
    this.#sessions.set(sha256(id), session);
    return { id, session };
  }

  /**
   * The live session of a cookie's id, with its key re-checked when due (`active` answers from
   * the store: undefined when the key was revoked, which ends the session).
   */
  async find(
    id: string,
    active: (key: ApiKeyRecord) => Promise<ApiKeyRecord | undefined>,
  ): Promise<Session | undefined> {
    const hash = sha256(id);
    const session = this.#sessions.get(hash);
    const now = this.#now();
    if (!session) return undefined;
    if (session.expiresAt <= now) {
      this.#sessions.delete(hash);
      return undefined;
    }
    if (now - session.checkedAt >= KEY_RECHECK_MS) {
      const key = await active(session.key);
      if (!key) {
        this.#sessions.delete(hash);
        return undefined;
      }
      session.key = key;
      session.checkedAt = now;
    }
    return session;
  }

  /** Ends a session (sign out); unknown ids are fine. */
  delete(id: string): void {
    this.#sessions.delete(sha256(id));
  }

  /** A ticket for one connection to one instance's stream, by the given key, for TICKET_TTL_MS. */
  issueTicket(key: ApiKeyRecord | undefined, instanceId: string): { ticket: string; expiresAt: number } {
    const ticket = secret();
    const expiresAt = this.#now() + TICKET_TTL_MS;
    if (this.#tickets.size >= MAX_TICKETS) this.#sweepTickets();
    if (this.#tickets.size >= MAX_TICKETS) this.#dropOldest(this.#tickets);
    this.#tickets.set(sha256(ticket), { key, instanceId, expiresAt });
    return { ticket, expiresAt };
  }

  /** Takes a ticket: it is gone after this, whether it was valid or not. */
  redeemTicket(ticket: string, instanceId: string): StreamTicket | undefined {
    const hash = sha256(ticket);
    const found = this.#tickets.get(hash);
    this.#tickets.delete(hash);
    if (!found || found.expiresAt <= this.#now() || found.instanceId !== instanceId) return undefined;
    return found;
  }

  #sweepTickets(): void {
    const now = this.#now();
    for (const [hash, ticket] of this.#tickets) if (ticket.expiresAt <= now) this.#tickets.delete(hash);
  }

  #dropOldest(map: Map<string, unknown>): void {
    // Maps iterate in insertion order: the first is the oldest.
    const first = map.keys().next();
    if (!first.done) map.delete(first.value);
  }
}
