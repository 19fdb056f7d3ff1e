import type { IncomingMessage } from 'node:http';

/**
 * The address a request came from. A request that arrives over a Unix socket came through the
 * gateway threads' internal hop (main-proxy.ts), which appends the client's address to
 * X-Forwarded-For: the last entry is the one this server wrote. Over TCP the header is the
 * client's own word and is ignored.
 */
export function clientAddress(req: IncomingMessage): string {
  const direct = req.socket.remoteAddress;
  if (direct !== undefined) return direct;
  const header = req.headers['x-forwarded-for'];
  const forwarded = Array.isArray(header) ? header.at(-1) : header;
  return forwarded?.split(',').at(-1)?.trim() || 'unix';
}
