import { randomFillSync } from 'node:crypto';

/** Longest URL string the isolate may hand to the host parser. */
const MAX_URL_CHARS = 1 << 20;
const MAX_RANDOM_BYTES = 65_536;

type UrlPart =
  | 'href'
  | 'protocol'
  | 'username'
  | 'password'
  | 'host'
  | 'hostname'
  | 'port'
  | 'pathname'
  | 'search'
  | 'hash';
const SETTABLE: ReadonlySet<string> = new Set<UrlPart>([
  'href',
  'protocol',
  'username',
  'password',
  'host',
  'hostname',
  'port',
  'pathname',
  'search',
  'hash',
]);

function urlParts(url: URL): string[] {
  return [
    url.href,
    url.origin,
    url.protocol,
    url.username,
    url.password,
    url.host,
    url.hostname,
    url.port,
    url.pathname,
    url.search,
    url.hash,
  ];
}

function tooLong(...values: unknown[]): boolean {
  return values.some((v) => typeof v === 'string' && v.length > MAX_URL_CHARS);
}

/**
 * The prelude's URL class parses with Node's WHATWG parser: `parse(input, base?)` or
 * `set(href, part, value)`, answering the parts in the prelude's URL_PARTS order, or null
 * when the input is not a valid URL. Arguments come from untrusted code: checked here.
 */
export function urlHost(op: unknown, a: unknown, b: unknown, c: unknown): string[] | null {
  if (typeof a !== 'string' || tooLong(a, b, c)) return null;
  if (op === 'parse') {
    if (b !== undefined && typeof b !== 'string') return null;
    const url = URL.parse(a, b);
    return url ? urlParts(url) : null;
  }
  if (op === 'set' && typeof b === 'string' && SETTABLE.has(b) && typeof c === 'string') {
    const url = URL.parse(a);
    if (!url) return null;
    try {
      url[b as UrlPart] = c;
    } catch {
      return null;
    }
    return urlParts(url);
  }
  return null;
}

/** Random bytes for crypto.getRandomValues/randomUUID. */
export function randomHost(count: unknown): Uint8Array {
  const n =
    typeof count === 'number' && Number.isInteger(count) ? Math.min(Math.max(count, 0), MAX_RANDOM_BYTES) : 0;
  return randomFillSync(new Uint8Array(n));
}
