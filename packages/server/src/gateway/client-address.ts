import type { IncomingMessage } from 'node:http';
import { BlockList, isIPv4 } from 'node:net';

/** The proxies whose X-Forwarded-For is believed (FAAS_TRUSTED_PROXIES); set once per thread. */
let trusted: BlockList | undefined;

/** Believes X-Forwarded-For from these addresses and CIDR ranges (already checked by the config). */
export function trustProxies(ranges: readonly string[]): void {
  if (ranges.length === 0) {
    trusted = undefined;
    return;
  }
  const list = new BlockList();
  for (const range of ranges) {
    const [address = '', prefix] = range.split('/');
    const type = isIPv4(address) ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  trusted = list;
}

/**
 * The address a request came from: the TCP peer, unless it is a trusted proxy
 * (FAAS_TRUSTED_PROXIES), then walking X-Forwarded-For from its end past trusted proxies to the
 * first address that is not one. Entries before that are the client's own word and never read.
 *
 * A request that arrives over a Unix socket came through the gateway threads' internal hop
 * (main-proxy.ts), which appends the TCP peer's address to X-Forwarded-For: the last entry is the
 * one this server wrote, and the walk starts there.
 */
export function clientAddress(req: IncomingMessage): string {
  const direct = req.socket.remoteAddress;
  const header = req.headers['x-forwarded-for'];
  const chain = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (direct !== undefined) chain.push(direct);
  let i = chain.length - 1;
  if (i < 0) return 'unix';
  while (trusted && i > 0 && isTrusted(trusted, chain[i] as string)) i--;
  return chain[i] as string;
}

function isTrusted(list: BlockList, address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIPv4(v4)) return list.check(v4, 'ipv4');
  try {
    return list.check(address, 'ipv6');
  } catch {
    // Not an address (a header entry may be anything): not a proxy of ours.
    return false;
  }
}
