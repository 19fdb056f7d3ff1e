export interface AuthThrottleOptions {
  /** Failures a client may make in a burst; 0 turns the throttle off. */
  limit: number;
  /** The time in which a client's allowance refills completely. */
  windowMs: number;
  /** Clients remembered at once; past it the least recently failing are forgotten. @default 10000 */
  maxClients?: number;
  now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Failed authentications per client address, as a token bucket: `limit` failures in a burst,
 * refilled at `limit` per `windowMs`. A client whose bucket is empty is refused before its key is
 * looked at (so guessing gets no answer at all) until a token is back. Successes cost nothing and
 * are never counted. Memory is bounded: a bucket that refilled is dropped, and past `maxClients`
 * the least recently failing client is forgotten (an attacker with that many addresses gets
 * through anyway).
 */
export class AuthThrottle {
  #limit: number;
  #perMs: number;
  #maxClients: number;
  #now: () => number;
  /** In order of last failure, oldest first (a Map keeps insertion order). */
  #buckets = new Map<string, Bucket>();

  constructor(options: AuthThrottleOptions) {
    this.#limit = options.limit;
    this.#perMs = options.limit / options.windowMs;
    this.#maxClients = options.maxClients ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** How long `address` must wait before its next attempt; 0 when it may try now. */
  retryAfterMs(address: string): number {
    if (this.#limit === 0) return 0;
    const key = clientKey(address);
    const bucket = this.#buckets.get(key);
    if (!bucket) return 0;
    const tokens = this.#refill(key, bucket);
    return tokens >= 1 ? 0 : Math.ceil((1 - tokens) / this.#perMs);
  }

  /** Counts one failed authentication of `address`. */
  fail(address: string): void {
    if (this.#limit === 0) return;
    const key = clientKey(address);
    const bucket = this.#buckets.get(key);
    const tokens = bucket ? this.#refill(key, bucket) : this.#limit;
    this.#buckets.delete(key);
    this.#buckets.set(key, { tokens: Math.max(0, tokens - 1), at: this.#now() });
    if (this.#buckets.size > this.#maxClients) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
  }

  /** The bucket's tokens now; a full one is dropped (the client is back to a clean slate). */
  #refill(key: string, bucket: Bucket): number {
    const now = this.#now();
    const tokens = Math.min(this.#limit, bucket.tokens + (now - bucket.at) * this.#perMs);
    if (tokens >= this.#limit) this.#buckets.delete(key);
    else {
      bucket.tokens = tokens;
      bucket.at = now;
    }
    return tokens;
  }
}

/**
 * Whose allowance an address draws on: an IPv4 address itself (IPv4-mapped IPv6 included), an
 * IPv6 address's /64, since one host is commonly given a whole /64 to pick addresses from.
 */
export function clientKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.split('%', 1)[0]?.toLowerCase().split('::') ?? [];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
