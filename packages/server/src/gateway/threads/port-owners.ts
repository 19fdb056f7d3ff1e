import { readdir, readFile, readlink } from 'node:fs/promises';
import { isIP } from 'node:net';

/**
 * Whether another process listens on a port this server wants (or has). With SO_REUSEPORT, which
 * the gateway threads need to share the port, the kernel lets a second server bind the same port
 * and take part of the traffic instead of failing with EADDRINUSE; so the server looks itself,
 * before binding and after, in the kernel's socket tables (/proc/net/tcp and tcp6) for listening
 * sockets on the port that are not among its own file descriptors. Linux only: elsewhere the
 * gateway runs one thread, without SO_REUSEPORT, and the kernel's own check applies.
 */
export async function otherListeners(host: string, port: number): Promise<number> {
  if (process.platform !== 'linux') return 0;
  const [mine, tables] = await Promise.all([ownSocketInodes(), Promise.all(['tcp', 'tcp6'].map(readTable))]);
  let count = 0;
  for (const table of tables) {
    for (const socket of table) {
      if (socket.port === port && !mine.has(socket.inode) && overlaps(socket.address, host)) count++;
    }
  }
  return count;
}

/** Whether SO_REUSEPORT can share a port among this server's threads here. */
export function reusePortSupported(): boolean {
  return process.platform === 'linux';
}

interface Listening {
  address: string;
  port: number;
  inode: string;
}

const LISTEN = '0A';

async function readTable(name: string): Promise<Listening[]> {
  let text: string;
  try {
    text = await readFile(`/proc/net/${name}`, 'utf8');
  } catch {
    return [];
  }
  const out: Listening[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    if (!local || fields[3] !== LISTEN) continue;
    const [hexAddress = '', hexPort = ''] = local.split(':');
    out.push({
      address: decodeAddress(hexAddress),
      port: Number.parseInt(hexPort, 16),
      inode: fields[9] ?? '',
    });
  }
  return out;
}

async function ownSocketInodes(): Promise<Set<string>> {
  const inodes = new Set<string>();
  const fds = await readdir('/proc/self/fd').catch(() => [] as string[]);
  await Promise.all(
    fds.map(async (fd) => {
      const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match?.[1]) inodes.add(match[1]);
    }),
  );
  return inodes;
}

/** /proc's addresses: IPv4 as one little-endian word, IPv6 as four. */
function decodeAddress(hex: string): string {
  if (hex.length === 8) {
    const bytes = Buffer.from(hex, 'hex').reverse();
    return [...bytes].join('.');
  }
  const words: string[] = [];
  for (let i = 0; i < 32; i += 8) {
    const word = Buffer.from(hex.slice(i, i + 8), 'hex')
      .reverse()
      .toString('hex');
    words.push(word.slice(0, 4), word.slice(4, 8));
  }
  return words.join(':');
}

const WILDCARDS = new Set(['0.0.0.0', '0000:0000:0000:0000:0000:0000:0000:0000', '::']);

/** Whether a listener on `address` would take connections meant for `host`. */
function overlaps(address: string, host: string): boolean {
  if (WILDCARDS.has(address) || WILDCARDS.has(host) || isIP(host) === 0) return true;
  if (isIP(host) === 4)
    return address === host || address === `0000:0000:0000:0000:0000:ffff:${v4Words(host)}`;
  return address.replaceAll(':', '').replace(/^0+/, '') === expand(host).replace(/^0+/, '');
}

function v4Words(ip: string): string {
  const hex = ip
    .split('.')
    .map((n) => Number(n).toString(16).padStart(2, '0'))
    .join('');
  return `${hex.slice(0, 4)}:${hex.slice(4)}`;
}

function expand(ip: string): string {
  const [head = '', tail = ''] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const missing = 8 - left.length - right.length;
  return [...left, ...Array(Math.max(0, missing)).fill('0'), ...right]
    .map((w) => w.padStart(4, '0'))
    .join('');
}
